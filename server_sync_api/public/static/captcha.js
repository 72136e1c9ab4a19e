// The CAPTCHA's proof of work runs in a worker served by this app (the widget's "external"
// build bundles none, so that the page's Content-Security-Policy can stay 'self' only).
const worker = new URL("./altcha/pbkdf2.js", import.meta.url);
globalThis.$altcha.algorithms.set("PBKDF2/SHA-256", () => new Worker(worker));
