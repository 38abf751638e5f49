// This browser's Web Push subscription: the address at the browser's own
// push service where the server can reach it with notifications while no
// tab is open (sw.js shows them). Permission is asked only when the user
// turns notifications on; the server keeps the subscription by its
// endpoint, so posting it again is harmless and keeps it current.

/** How long to wait for the service worker to be active before giving up. */
const WORKER_READY_MS = 10000;
/** How long the browser's push service may take to hand out a subscription. */
const SUBSCRIBE_MS = 20000;
/** Logging out waits this long at most for the subscription to be dropped. */
const LEAVE_MS = 3000;

/** Why turning notifications on did not work; each has its sentence in the view. */
export const PUSH_DENIED = 'denied';
export const PUSH_UNSUPPORTED = 'unsupported';
export const PUSH_FAILED = 'failed';

export class PushError extends Error {
  constructor(reason, message, cause = null) {
    super(message);
    this.name = 'PushError';
    this.reason = reason;
    this.cause = cause;
  }
}

/** Whether this browser and page can receive push at all (it needs HTTPS or localhost). */
export function pushSupported() {
  return window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** The permission as the browser has it: 'granted', 'denied', 'default', or 'unsupported'. */
export function notificationPermission() {
  return 'Notification' in window ? Notification.permission : PUSH_UNSUPPORTED;
}

/** The active service worker's registration, or null when none becomes active in time. */
async function workerRegistration() {
  if (!('serviceWorker' in navigator)) return null;
  try {
    await navigator.serviceWorker.register('/sw.js');
  } catch {
    return null;
  }
  return within(navigator.serviceWorker.ready, WORKER_READY_MS, () => null);
}

/** `promise`, or what `late()` gives (or throws) if it has not settled after `ms`. */
async function within(promise, ms, late) {
  let timer;
  const bound = new Promise((resolve) => { timer = setTimeout(resolve, ms); }).then(late);
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Base64url (the server's key) to the bytes `pushManager.subscribe` takes. */
function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export class PushSubscriber {
  constructor(api) {
    this.api = api;
  }

  /** The subscription this browser holds now (null if none, or push is not possible). */
  async current() {
    if (!pushSupported() || Notification.permission !== 'granted') return null;
    const reg = await workerRegistration();
    if (!reg) return null;
    try {
      return await reg.pushManager.getSubscription();
    } catch {
      return null;
    }
  }

  /**
   * At load: whether notifications are on. An existing subscription is
   * posted again; one bound to another key than the server's (its data
   * directory was restored elsewhere) is replaced by a new one first.
   */
  async refresh() {
    let sub = await this.current();
    if (!sub) return false;
    try {
      const { publicKey } = await this.api.pushKey();
      const key = keyBytes(publicKey);
      const bound = sub.options && sub.options.applicationServerKey;
      if (bound && !sameBytes(new Uint8Array(bound), key)) {
        await sub.unsubscribe();
        sub = null;
        sub = await this.subscribe(await workerRegistration(), key);
      }
      await this.api.addPushSubscription(sub.toJSON());
    } catch {
      // Offline or refused: the next load tries again.
    }
    return sub !== null;
  }

  /** A new subscription bound to the server's `key` (bytes), within SUBSCRIBE_MS. */
  subscribe(reg, key) {
    if (!reg) return Promise.reject(new Error('The service worker did not start.'));
    const options = { userVisibleOnly: true, applicationServerKey: key };
    return within(reg.pushManager.subscribe(options), SUBSCRIBE_MS, () => {
      throw new Error('The push service did not answer in time.');
    });
  }

  /** Ask permission (only now), subscribe, and hand the subscription to the server. Throws a PushError. */
  async enable() {
    if (!pushSupported()) throw new PushError(PUSH_UNSUPPORTED, 'Push is not available here.');
    const permission = await Notification.requestPermission();
    if (permission !== 'granted') throw new PushError(PUSH_DENIED, `Permission: ${permission}.`);
    const reg = await workerRegistration();
    if (!reg) throw new PushError(PUSH_FAILED, 'The service worker did not start.');
    let sub;
    try {
      const { publicKey } = await this.api.pushKey();
      sub = await reg.pushManager.getSubscription() || await this.subscribe(reg, keyBytes(publicKey));
    } catch (err) {
      throw new PushError(PUSH_FAILED, err && err.message ? err.message : String(err), err);
    }
    try {
      await this.api.addPushSubscription(sub.toJSON());
    } catch (err) {
      // The server would not keep it: no use holding a subscription nobody sends to.
      await sub.unsubscribe().catch(() => {});
      throw new PushError(PUSH_FAILED, err.message, err);
    }
  }

  /** Logging out: drop the subscription if there is one, without ever failing or holding the user up long. */
  leave() {
    return within(this.disable().catch(() => {}), LEAVE_MS, () => {});
  }

  /** Stop: the browser drops the subscription and the server forgets it. */
  async disable() {
    const sub = await this.current();
    if (!sub) return;
    const { endpoint } = sub;
    await sub.unsubscribe().catch(() => {});
    await this.api.removePushSubscription(endpoint);
  }
}
