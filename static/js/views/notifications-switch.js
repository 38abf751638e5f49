// The "Notifications" switch beside the account's buttons: on, this browser
// gets the server's push notifications (push.js) also while no tab is open.
// The browser is asked for permission only when the user turns it on; when
// it refuses (now or earlier), or no push service answers, the switch stays
// off and a sentence under it says why and what to do.

import { byId } from '../dom.js';
import { describeError } from '../errors.js';
import { PUSH_DENIED, PUSH_UNSUPPORTED, PushError, notificationPermission, pushSupported } from '../push.js';

const BLOCKED = 'Notifications are blocked for this site. To allow them, open the site settings '
  + '(the icon left of the address), set Notifications to Allow, then turn them on here again.';
const UNSUPPORTED = 'This browser cannot show notifications from this page: it needs a current browser '
  + 'and an https address.';
const UNREACHABLE = 'Notifications could not be turned on: the browser’s push service did not answer. '
  + 'Check the connection and try again later.';

/** `subscriber` is a PushSubscriber. */
export function mountNotificationsSwitch({ subscriber }) {
  const button = byId('notify-switch');
  const text = byId('notify-status-text');
  const dismiss = byId('notify-status-close');
  let busy = false;

  function setOn(on) {
    button.setAttribute('aria-checked', String(on));
    button.title = on ? 'Notifications: on' : 'Notifications: off';
  }

  function explain(sentence) {
    text.textContent = sentence;
    dismiss.hidden = !sentence;
  }

  function why(err) {
    if (err instanceof PushError && err.reason === PUSH_DENIED) return BLOCKED;
    if (err instanceof PushError && err.reason === PUSH_UNSUPPORTED) return UNSUPPORTED;
    // The server refused the subscription (e.g. too many browsers): its reason.
    if (err && err.cause && err.cause.status) return `Notifications could not be turned on. ${describeError(err.cause)}`;
    return UNREACHABLE;
  }

  async function toggle() {
    if (busy) return;
    const on = button.getAttribute('aria-checked') !== 'true';
    busy = true;
    button.setAttribute('aria-busy', 'true');
    explain('');
    try {
      if (on) await subscriber.enable();
      else await subscriber.disable();
      setOn(on);
    } catch (err) {
      if (on) {
        setOn(false);
        explain(why(err));
      } else {
        // The browser let go of it; the server's copy goes when the push service next answers 410.
        setOn(false);
        explain(`Notifications are off in this browser. ${describeError(err)}`);
      }
    } finally {
      busy = false;
      button.removeAttribute('aria-busy');
    }
  }

  button.addEventListener('click', toggle);
  dismiss.addEventListener('click', () => {
    explain('');
    button.focus();
  });
  // The sentence lies over the page's top right corner: a click elsewhere or Escape puts it away.
  document.addEventListener('pointerdown', (ev) => {
    if (text.textContent && !ev.target.closest('.notify-status, #notify-switch')) explain('');
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape' || !text.textContent) return;
    const inside = dismiss.contains(document.activeElement);
    explain('');
    if (inside) button.focus();
  });

  setOn(false);
  if (!pushSupported()) return;
  // Blocked earlier: say so only when the user reaches for the switch.
  if (notificationPermission() === 'granted') subscriber.refresh().then(setOn, () => setOn(false));
}
