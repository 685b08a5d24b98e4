// Ports on this machine, for the launchers (`npm run dev`), the test harness and the benchmarks.
import net from 'node:net';

/**
 * Every port `npm run dev` binds, with the variable that moves it. One table for the launcher's
 * conflict check, the simulators, the seed (which writes the simulators' addresses into the API)
 * and the start-up tests (which move every one of them to a free port, so that a test run beside
 * a running `npm run dev` collides with nothing). `unless`: the variable that points the stack at
 * a service of your own instead, in which case dev starts none and that port stays free.
 */
export const DEV_PORTS = [
  { variable: 'API_PORT', port: 3000, what: 'the API' },
  { variable: 'WORKER_METRICS_PORT', port: 9464, what: 'worker metrics' },
  { variable: 'EMBEDDED_PG_PORT', port: 54329, what: 'embedded Postgres', unless: 'DATABASE_URL' },
  { variable: 'TEMPORAL_PORT', port: 7233, what: 'the Temporal dev server', unless: 'TEMPORAL_ADDRESS' },
  { variable: 'TEMPORAL_UI_PORT', port: 8233, what: 'the Temporal Web UI', unless: 'TEMPORAL_ADDRESS' },
  {
    variable: 'TEMPORAL_UI_SERVER_PORT',
    port: 8234,
    what: "the Temporal UI server behind the UI's gateway (codec and sign-in on the UI's origin)",
    unless: 'TEMPORAL_ADDRESS',
  },
  { variable: 'NOVA_SLOTS_PORT', port: 4101, what: "nova-slots' simulated provider report server" },
  { variable: 'AURORA_LIVE_PORT', port: 4102, what: "aurora-live's simulated provider report server" },
  { variable: 'ORBIT_HUB_PORT', port: 4103, what: "orbit-hub's simulated provider report server" },
  { variable: 'FX_PORT', port: 4200, what: 'the simulated FX rates service', unless: 'FX_RATES_URL' },
  {
    variable: 'DUE_DILIGENCE_PORT',
    port: 4300,
    what: 'the simulated registry and sanctions service',
    unless: 'DUE_DILIGENCE_URL',
  },
  { variable: 'BANK_PORT', port: 4400, what: 'the simulated bank (camt.053 statements)' },
];

/** The port `variable` sets in `env`, or its default; a value that is not a port throws, naming it. */
export function devPort(variable, env = process.env) {
  const entry = DEV_PORTS.find((p) => p.variable === variable);
  if (!entry) throw new Error(`${variable} is not one of npm run dev's port variables`);
  const raw = env[variable];
  if (raw === undefined || raw === '') return entry.port;
  const port = Number(raw);
  // Dev must know the port it prints and probes: 0 (an OS-picked port) is refused too.
  if (!/^\d+$/.test(raw) || port < 1 || port > 65535)
    throw new Error(`${variable}=${raw} is not a port number (1-65535)`);
  return port;
}

/** A port that was free a moment ago (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Whether something accepts connections on host:port. */
export function portOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host }, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => (s.destroy(), resolve(false)));
  });
}
