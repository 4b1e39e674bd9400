// Progressive enhancement only: every page reads the same without it.
"use strict";

// Times arrive as recorded; show them in the viewer's time zone, the recorded value on hover.
function localTimes(root) {
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  for (const element of root.querySelectorAll("time.when[datetime]")) {
    const moment = new Date(element.getAttribute("datetime"));
    if (!Number.isNaN(moment.getTime())) {
      element.textContent = format.format(moment);
    }
  }
}

// While a projection rebuilds, fetch this page again and swap in its progress table.
function followRebuilds() {
  const holder = document.getElementById("projections");
  if (!holder || !holder.dataset.refresh) {
    return;
  }
  const pause = Number(holder.dataset.refresh);
  setTimeout(async function refresh() {
    try {
      const answer = await fetch(window.location.pathname, { credentials: "same-origin" });
      if (answer.ok) {
        const page = new DOMParser().parseFromString(await answer.text(), "text/html");
        const fresh = page.getElementById("projections");
        if (fresh) {
          holder.replaceChildren(...fresh.childNodes);
          localTimes(holder);
          if (!fresh.dataset.refresh) {
            delete holder.dataset.refresh;
            return;
          }
        }
      }
    } catch (error) {
      // The service may be restarting; the next try will tell.
    }
    setTimeout(refresh, pause);
  }, pause);
}

document.addEventListener("DOMContentLoaded", function () {
  localTimes(document);
  followRebuilds();
});
