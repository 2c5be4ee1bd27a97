// LeadPing Event Desk: copy buttons, keyboard shortcuts and the live status panel's manners.
// Loaded with a CSP nonce; no inline handlers anywhere, so nothing here uses eval or innerHTML.
(function () {
  "use strict";

  const HIDDEN_TAB_POLL_MS = 60000; // a hidden tab still checks about once a minute
  const MAX_BACKOFF_TICKS = 12;

  function toast(message) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.classList.add("toast-visible");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.classList.remove("toast-visible"); }, 2200);
  }

  function copyText(text, label) {
    const done = function () { toast("Copied " + (label || "to clipboard")); };
    const fail = function () { toast("Could not copy: select the text and press Ctrl+C"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { legacyCopy(text) ? done() : fail(); });
    } else {
      legacyCopy(text) ? done() : fail();
    }
  }

  // Plain-HTTP deployments have no Clipboard API; a hidden textarea still works there.
  function legacyCopy(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy], [data-copy-target], [data-copy-permalink]");
    if (!button) return;
    const label = button.getAttribute("data-copy-label");
    if (button.hasAttribute("data-copy-permalink")) {
      copyText(window.location.origin + window.location.pathname, label);
    } else if (button.hasAttribute("data-copy-target")) {
      const source = document.querySelector(button.getAttribute("data-copy-target"));
      if (source) copyText(source.textContent, label);
    } else {
      copyText(button.getAttribute("data-copy"), label);
    }
  });

  function isTyping(target) {
    return target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !isTyping(event.target)) {
      const field = document.querySelector("[data-lookup-field]");
      if (field) {
        event.preventDefault();
        field.focus();
        field.select();
      }
    } else if (event.key === "Escape") {
      const open = event.target.closest("details[open]");
      if (open) {
        open.open = false;
        open.querySelector("summary").focus();
      } else if (isTyping(event.target)) {
        event.target.blur();
      }
    }
  });

  // --- the live status panel -------------------------------------------------------------
  // lastGood: when the desk last answered a poll (the page load to begin with).
  const poll = { failures: 0, skipped: 0, lastSent: Date.now(), lastGood: new Date() };

  function isStatusPanel(elt) { return elt && elt.id === "status-panel"; }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!isStatusPanel(event.detail.elt)) return;
    const now = Date.now();
    const hiddenTooSoon = document.hidden && now - poll.lastSent < HIDDEN_TAB_POLL_MS;
    // While LeadPing fails, wait 2, 4, 8… ticks between tries instead of hammering it.
    const backingOff = poll.failures > 0 && poll.skipped < Math.min(2 ** poll.failures, MAX_BACKOFF_TICKS);
    if (hiddenTooSoon || backingOff) {
      poll.skipped += 1;
      event.preventDefault();
      return;
    }
    poll.skipped = 0;
    poll.lastSent = now;
  });

  // Back on a tab whose polls were held while it was hidden: check at once, not at the next tick.
  document.addEventListener("visibilitychange", function () {
    const panel = document.getElementById("status-panel");
    const url = panel && panel.getAttribute("hx-get");
    const every = panel && /every (\d+)s/.exec(panel.getAttribute("hx-trigger") || "");
    if (document.hidden || !url || !every || !window.htmx) return;
    if (Date.now() - poll.lastSent < Number(every[1]) * 1000) return;
    // A failed check is htmx's sendError or responseError, said in the panel's note.
    window.htmx.ajax("GET", url, { source: panel, target: panel, swap: "outerHTML" }).catch(function () {});
  });

  // Times as the page writes them: 24-hour, in the zone of the viewer's preferences.
  function clock(date) {
    const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
    const zone = document.body.getAttribute("data-time-zone");
    try {
      return date.toLocaleTimeString("en-GB", zone ? Object.assign({ timeZone: zone }, options) : options);
    } catch (error) {  // a zone this browser does not know
      return date.toLocaleTimeString("en-GB", options);
    }
  }

  function markStale(panel, reason) {
    poll.failures += 1;
    const note = document.querySelector("[data-client-stale]");
    if (!note) return;
    const time = panel.querySelector(".freshness time");
    const fetched = new Date(time ? time.getAttribute("datetime") : NaN);
    const shown = isNaN(fetched) ? "" : " Showing what LeadPing said at " + clock(fetched) + ".";
    // The desk's own messages end with a full stop already ("LeadPing has no event with this ID.").
    const stop = /[.!?]$/.test(reason) ? "" : ".";
    // The next try comes after the ticks htmx:beforeRequest will skip, and its own.
    const every = /every (\d+)s/.exec(panel.getAttribute("hx-trigger") || "");
    const wait = every ? Number(every[1]) * (Math.min(2 ** poll.failures, MAX_BACKOFF_TICKS) + 1) : 0;
    const retry = wait ? " Trying again in about " + wait + " s." : " Retrying.";
    // The note is a live region: it is said when what it says changes, not when only the
    // wait before the next try does (with the backoff, that is every failed poll).
    let said = note.querySelector("[data-note-said]");
    let next = note.querySelector("[data-note-next]");
    if (!said || !next) {
      said = document.createElement("span");
      said.setAttribute("data-note-said", "");
      next = document.createElement("span");
      next.setAttribute("data-note-next", "");
      next.setAttribute("aria-hidden", "true");
      note.replaceChildren(said, next);
    }
    const text = "Not refreshed since " + clock(poll.lastGood) + ": " + reason + stop + shown;
    if (said.textContent !== text) said.textContent = text;
    next.textContent = retry;
    note.hidden = false;
    panel.classList.add("is-client-stale");
  }

  // An error answer to a poll (or to the details' refresh) is said in the panel's note: it is
  // taken here, before htmx would call it a responseError and log it to the console, once
  // per poll for as long as LeadPing fails.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const xhr = event.detail.xhr;
    const elt = event.detail.elt;
    if (xhr.status < 400 || !(isStatusPanel(elt) || (elt && elt.id === "event-facts"))) return;
    event.detail.shouldSwap = false;
    event.detail.isError = false;
    if (!isStatusPanel(elt)) return;  // the details: the next poll's refreshDetails tries again
    // The desk's own messages are plain text; an HTML page (a proxy's 502) is not read out.
    const plain = /^text\/plain/i.test(xhr.getResponseHeader("Content-Type") || "");
    const text = plain ? (xhr.responseText || "").trim().slice(0, 200) : "";
    markStale(elt, text || "the desk answered " + xhr.status);
  });
  document.addEventListener("htmx:sendError", function (event) {
    if (isStatusPanel(event.detail.elt)) markStale(event.detail.elt, "the desk could not be reached");
  });
  document.addEventListener("htmx:timeout", function (event) {
    if (isStatusPanel(event.detail.elt)) markStale(event.detail.elt, "the desk took too long to answer");
  });
  // 204: LeadPing's answer has not changed since this panel was drawn; only say we checked.
  document.addEventListener("htmx:afterRequest", function (event) {
    const panel = event.detail.elt;
    if (!isStatusPanel(panel) || event.detail.xhr.status !== 204) return;
    poll.failures = 0;
    poll.lastGood = new Date();
    const checked = panel.querySelector("[data-checked]");
    const at = event.detail.xhr.getResponseHeader("X-Desk-Checked");
    if (checked && at) checked.textContent = at;
    const note = document.querySelector("[data-client-stale]");
    if (note) note.hidden = true;
    panel.classList.remove("is-client-stale");
    // Unchanged since the panel was drawn, but the details may still lag behind it (their
    // fetch failed): refreshDetails fetches them only if so.
    refreshDetails();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (isStatusPanel(event.detail.elt) || isStatusPanel(event.detail.target)) {
      poll.failures = 0;
      poll.lastGood = new Date();
      const note = document.querySelector("[data-client-stale]");
      if (note) note.hidden = true;
      refreshDetails();
      const before = shownStatus;
      announceStatus();
      announceStaleness(before);
    }
  });

  // The panel's own note on a stale copy comes in with the panel, and a live region added
  // with its text is not read out: going stale, and fresh again, is said by the toast.
  let panelWasStale = false;
  function announceStaleness(statusBefore) {
    const panel = document.getElementById("status-panel");
    const stale = !!panel && panel.classList.contains("is-stale");
    if (stale && !panelWasStale) {
      const note = panel.querySelector(".stale-note:not(.conflict-note)");
      if (note) toast(note.textContent.replace(/\s+/g, " ").trim());
    } else if (!stale && panelWasStale && shownStatus === statusBefore) {
      toast("LeadPing answers again: this is its latest copy.");
    }
    panelWasStale = stale;
  }
  document.addEventListener("DOMContentLoaded", function () {
    const panel = document.getElementById("status-panel");
    panelWasStale = !!panel && panel.classList.contains("is-stale");
  });

  // The panel is replaced, not edited, so screen readers would not hear a new status: the
  // toast (a polite live region) says it, and shows it to everyone else for a moment.
  let shownStatus = null;
  function currentStatus() {
    const label = document.querySelector("#status-panel .badge-label");
    return label ? label.textContent.trim() : null;
  }
  document.addEventListener("DOMContentLoaded", function () { shownStatus = currentStatus(); });
  // A status that flips on every poll is said at most once per ANNOUNCE_GAP_MS: the changes
  // in between are summed up by the latest one at the end of the gap.
  const ANNOUNCE_GAP_MS = 10000;
  let announcedAt = 0;
  let announceTimer = null;
  function announceStatus() {
    const status = currentStatus();
    const panel = document.getElementById("status-panel");
    // A final status ends the polling: nothing can follow it, so it is said at once.
    const final = panel && !panel.hasAttribute("hx-get");
    if (final && announceTimer) {
      clearTimeout(announceTimer);
      announceTimer = null;
    }
    if (!status || shownStatus === null || status === shownStatus || announceTimer) {
      if (shownStatus === null) shownStatus = status;
      return;
    }
    const wait = announcedAt + ANNOUNCE_GAP_MS - Date.now();
    if (wait <= 0 || final) {
      sayStatus();
    } else {
      announceTimer = setTimeout(function () { announceTimer = null; sayStatus(); }, wait);
    }
  }
  function sayStatus() {
    const status = currentStatus();
    if (!status || status === shownStatus) return;
    toast("Status now: " + status);
    shownStatus = status;
    announcedAt = Date.now();
  }

  // A poll that brings a new answer redraws the status panel only; the details below it
  // (references, payloads, raw JSON) are then fetched again, unless they already show it.
  // The page's head (type, direction, ID) comes with them, out of band.
  function refreshDetails() {
    const details = document.getElementById("event-facts");
    const panel = document.getElementById("status-panel");
    if (!details || !panel || !window.htmx) return;
    const polling = panel.getAttribute("hx-get");
    // The poll's version is "<answer>" or "<answer>-<why it is stale>": the details show the
    // answer only, and a copy turning stale (or fresh again) leaves them as they are.
    const version = polling ? (new URL(polling, window.location.href).searchParams.get("v") || "").split("-")[0] : null;
    if (version && version === details.getAttribute("data-version")) return;
    // The new details come closed and unfocused: keep what the reader had open and where the
    // keyboard was, or a poll would fold the raw JSON away and drop focus to the page.
    const focused = document.activeElement;
    const inside = refreshedParts().some(function (part) { return part !== focused && part.contains(focused); });
    keptView = {
      open: Array.prototype.map.call(details.querySelectorAll("details[open][id]"), function (d) { return d.id; }),
      focus: inside ? identity(focused) : null,
      // Where the reader had scrolled the raw JSON (and the full payload) to.
      scroll: Array.prototype.map.call(details.querySelectorAll(".json[id]"), function (box) {
        return [box.id, box.scrollTop];
      }),
    };
    window.htmx.ajax("GET", details.getAttribute("data-refresh-url"), {
      target: details, swap: "outerHTML",
    }).catch(function () { keptView = null; });  // the next poll tries again
  }

  function refreshedParts() {
    return ["event-facts", "event-head"].map(function (id) { return document.getElementById(id); })
      .filter(Boolean);
  }

  const FOCUSABLE = "a[href], button, summary, [tabindex]";
  let keptView = null;

  // A poll redraws the whole status panel: the keyboard stays where it was (the status
  // reason's scroll box, a link), and so does that box's scroll, or focus falls to the page.
  let panelView = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    const panel = event.detail.target;
    if (!panel || panel.id !== "status-panel" || !event.detail.shouldSwap) return;
    const focused = document.activeElement;
    panelView = focused !== panel && panel.contains(focused)
      ? { focus: identity(focused), scroll: focused.scrollTop } : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    const panel = document.getElementById("status-panel");
    const wanted = panelView;
    panelView = null;
    if (!wanted || !panel) return;
    focusOverflowingBoxes();
    const again = Array.prototype.find.call(panel.querySelectorAll(FOCUSABLE), function (element) {
      return identity(element) === wanted.focus;
    });
    if (!again) return;
    again.focus({ preventScroll: true });
    again.scrollTop = wanted.scroll;
  });

  // What a control is, whatever its place: a new answer may add a control above it (a
  // "Copy provider message ID" once the message is sent), so its position is no guide. One
  // with an ID (the raw JSON's box) is that ID, whatever the new answer put in it.
  function identity(element) {
    if (element.id) return "#" + element.id;
    const holder = element.parentElement ? element.parentElement.closest("[id]") : null;
    // A scroll box is the same box whatever text the new answer put in it.
    const box = Object.keys(SCROLL_BOXES).find(function (name) { return element.classList.contains(name); });
    if (box) return ["box", box, holder ? holder.id : ""].join("\u0000");
    return [
      element.tagName,
      element.id,
      holder ? holder.id : "",
      element.getAttribute("data-copy-label") || "",
      element.getAttribute("data-copy-target") || "",
      element.getAttribute("href") || "",
      element.textContent.trim(),
    ].join("\u0000");
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    const details = document.getElementById("event-facts");
    if (!keptView || !details || event.detail.target.id !== "event-facts") return;
    keptView.open.forEach(function (id) {
      const box = document.getElementById(id);
      if (box && details.contains(box)) box.open = true;
    });
    keptView.scroll.forEach(function (kept) {
      const box = document.getElementById(kept[0]);
      if (box && details.contains(box)) box.scrollTop = kept[1];
    });
    const wanted = keptView.focus;
    const controls = [];
    refreshedParts().forEach(function (part) { controls.push.apply(controls, part.querySelectorAll(FOCUSABLE)); });
    const again = wanted === null ? null : controls.find(function (element) { return identity(element) === wanted; });
    if (again) again.focus({ preventScroll: true });
    keptView = null;
  });
  // The tab's title names the event as the head now does ("SMS 0b7c…", then "Call 0b7c…").
  document.addEventListener("htmx:afterSwap", function (event) {
    const heading = document.getElementById("event-heading");
    const title = heading && heading.getAttribute("data-title");
    const suffix = document.title.lastIndexOf(" · ");
    if (event.detail.target.id === "event-facts" && title && suffix > -1) {
      document.title = title + document.title.slice(suffix);
    }
  });

  // --- "3 minutes ago" ---------------------------------------------------------------------
  // Pages carry times as <span data-since="ISO 8601">, or <time datetime="…"> followed by an
  // empty <span data-since>; the wording is done here, and kept
  // current while the page stays open, so that the server can reuse a rendered page.
  const RELATIVE = typeof Intl !== "undefined" && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat("en", { numeric: "always" }) : null;
  // A unit is used from twice its length on ("28 hours ago", not "1 day ago"); seconds below a minute.
  const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

  function relativeText(then, now) {
    const seconds = Math.round((then - now) / 1000);
    const size = Math.abs(seconds);
    // "now" under a second, as Django's naturaltime on the page; then "4 seconds ago".
    if (size < 1) return "now";
    for (let i = 0; i < UNITS.length; i++) {
      const unit = UNITS[i][0];
      const length = UNITS[i][1];
      if (size >= 2 * length || (unit === "minute" && size >= length) || unit === "second") {
        const count = Math.trunc(seconds / length);
        if (RELATIVE) return RELATIVE.format(count, unit);
        const plural = Math.abs(count) === 1 ? unit : unit + "s";
        return count < 0 ? -count + " " + plural + " ago" : "in " + count + " " + plural;
      }
    }
    return "";
  }

  function refreshRelativeTimes(root) {
    const now = Date.now();
    (root || document).querySelectorAll("[data-since]").forEach(function (span) {
      const before = span.previousElementSibling;
      const since = span.getAttribute("data-since") || (before && before.getAttribute("datetime"));
      const then = Date.parse(since || "");
      if (isNaN(then)) return;
      const text = relativeText(then, now);
      if (text === span.textContent) return;
      // In a live region (the stale note), a new "13 seconds ago" would have the whole note
      // read out again every few seconds: once said, it is kept from screen readers (the
      // note gives the clock time too).
      if (span.closest("[role=status], [aria-live]")) span.setAttribute("aria-hidden", "true");
      span.textContent = text;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    refreshRelativeTimes();
    // Often enough that "12 seconds ago" is never 15 seconds behind.
    setInterval(refreshRelativeTimes, 5000);
  });
  document.addEventListener("htmx:afterSettle", function () { refreshRelativeTimes(); });

  // --- boxes that scroll ------------------------------------------------------------------
  // desk.css caps long upstream texts and lets wide tables scroll; a box that does overflow
  // must be reachable by keyboard to be read (WCAG 2.1.1), so it becomes a focusable region.
  const SCROLL_BOXES = {
    "summary": "Summary", "description": "Description", "status-reason": "Status reason", "table-scroll": "Table",
  };

  function focusOverflowingBoxes() {
    Object.keys(SCROLL_BOXES).forEach(function (name) {
      document.querySelectorAll("." + name).forEach(function (box) {
        const overflows = box.scrollHeight > box.clientHeight || box.scrollWidth > box.clientWidth;
        if (!overflows || box.hasAttribute("tabindex")) return;
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", SCROLL_BOXES[name] + " (scrolls)");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", focusOverflowingBoxes);
  document.addEventListener("htmx:afterSettle", focusOverflowingBoxes);

  // --- trying again by itself -------------------------------------------------------------
  // "The desk is busy" and the like say when to come back (Retry-After); the page does so by
  // itself, a few times, with a second of jitter so that a room of viewers does not return
  // at once. The count is per tab and address, and starts again once the page loads.
  const MAX_AUTO_RETRIES = 5;

  function retryLater() {
    const link = document.querySelector("a[data-auto-retry]");
    const key = "desk-retries:" + location.pathname + location.search;
    if (!link) {
      try { sessionStorage.removeItem(key); } catch (e) { /* storage off: nothing kept */ }
      return;
    }
    const seconds = parseInt(link.getAttribute("data-auto-retry"), 10);
    let tries = 0;
    try { tries = parseInt(sessionStorage.getItem(key) || "0", 10) || 0; } catch (e) { return; }
    const note = document.querySelector("[data-auto-retry-note]");
    if (!(seconds > 0 && seconds <= 60)) return;
    if (tries >= MAX_AUTO_RETRIES) {
      if (note) note.textContent = "The page has stopped trying by itself: press Try again.";
      return;
    }
    if (note) note.textContent = "The page tries again by itself in " + seconds + " s.";
    setTimeout(function go() {
      if (document.visibilityState === "hidden") {
        document.addEventListener("visibilitychange", go, { once: true });
        return;
      }
      try { sessionStorage.setItem(key, String(tries + 1)); } catch (e) { return; }
      location.replace(link.href);
    }, seconds * 1000 + Math.random() * 1000);
  }

  document.addEventListener("DOMContentLoaded", retryLater);
})();
