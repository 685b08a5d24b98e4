// When `npm run dev` may start a component again after it died: at most `max` times within
// `windowMs` (a crash loop stops the stack instead of spinning), counted per component.
export function restartBudget({ max = 3, windowMs = 10 * 60_000, now = Date.now } = {}) {
  const deaths = new Map();
  return (component) => {
    const t = now();
    const recent = (deaths.get(component) ?? []).filter((at) => t - at < windowMs);
    recent.push(t);
    deaths.set(component, recent);
    return { allowed: recent.length <= max, attempt: recent.length, max };
  };
}

/** The one line that says which component died, how, and what it said last. */
export function deathLine(component, code, signal, lastWords) {
  const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
  return `${component} ${how}${lastWords ? `; its last words: ${lastWords}` : ''}`;
}
