// Registers the service worker (/sw.js), which keeps this build's files so
// that the page opens, and says "offline", while the server is unreachable.

export function registerShellCache() {
  // Absent in old browsers and on plain-http origins other than localhost:
  // then the page simply needs the server, as before.
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register('/sw.js').catch(() => {});
}
