// A dialog around one form that sends one request at a time: while it is
// under way the submit button is disabled, the dialog is aria-busy, and
// neither Cancel nor Escape closes it (the answer would land nowhere). The
// dialog closes once the request succeeds; a refusal keeps it open to fix.

/**
 * `start()` checks the form and returns the request's promise, or null when
 * nothing is to be sent (it then shows why itself); `done(result)` runs on
 * success, just before the dialog closes; `failed(err)` shows a refusal.
 */
export function mountFormDialog({ dialog, form, cancel, submit, start, done = () => {}, failed }) {
  let busy = false;
  cancel.addEventListener('click', () => { if (!busy) dialog.close(); });
  dialog.addEventListener('cancel', (ev) => { if (busy) ev.preventDefault(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy) return;
    const request = start();
    if (!request) return;
    busy = true;
    submit.disabled = true;
    dialog.setAttribute('aria-busy', 'true');
    try {
      const result = await request;
      busy = false;
      done(result);
      dialog.close();
    } catch (err) {
      failed(err);
    } finally {
      busy = false;
      submit.disabled = false;
      dialog.removeAttribute('aria-busy');
    }
  });
}
