// What the browser tests share: how Chromium is started (headless, off the network).

/** Chromium flags: headless, no sandbox (root in CI), and nothing that talks to the network on its own. */
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--no-default-browser-check',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions',
  '--disable-domain-reliability', '--disable-breakpad', '--metrics-recording-only', '--no-pings', '--safebrowsing-disable-auto-update',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
];
