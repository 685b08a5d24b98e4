// Everything the pages get in `ctx`, also importable directly.
export { api, ApiError } from './api.js';
export { h, link, statusLine, replaceKeepingFocus } from './dom.js';
export { fmt } from './fmt.js';
export { pagedTable, toCsv, csvSafe, download } from './table.js';
export { timeSeries, barChart, PALETTE } from './charts.js';
export { cards, badge, facts, localDate, addDays, allRows, section, problem, epoch } from './ui.js';
