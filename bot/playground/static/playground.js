// The playground's page: shows the emulated Slack as it changes, and sends what you type.
// Message bodies arrive as HTML rendered by the server (raw HTML in messages is escaped there).
"use strict";

const state = {
  channels: [], messages: new Map(), statuses: new Map(), ephemerals: new Map(), chosen: new Map(),
  current: null, thread: null, bot: "backend-engineer", seq: 0,
};
const $ = (id) => document.getElementById(id);
const key = (channel, ts) => `${channel}/${ts}`;
let socket;

function connect() {
  socket = new WebSocket(`ws://${location.host}/ws`);
  socket.onmessage = (event) => receive(JSON.parse(event.data));
  socket.onclose = () => {
    $("banner").textContent = "Disconnected from the playground. Is it still running? Reload to reconnect.";
    $("banner").className = "banner dry-run";
  };
}

function receive(update) {
  if (update.type === "hello") {
    Object.assign(state, { channels: update.channels, bot: update.bot });
    state.messages.clear();
    update.messages.filter(Boolean).forEach((m) => state.messages.set(key(m.channel, m.ts), m));
    update.statuses.forEach((s) => state.statuses.set(key(s.channel, s.thread_ts), s.status));
    $("banner").textContent = update.banner;
    $("banner").className = update.dry_run ? "banner dry-run" : "banner";
    state.current = state.current || update.channels[0].id;
    renderSidebar();
  } else if (update.type === "message") {
    state.messages.set(key(update.message.channel, update.message.ts), update.message);
  } else if (update.type === "deleted") {
    state.messages.delete(key(update.channel, update.ts));
  } else if (update.type === "status") {
    state.statuses.set(key(update.channel, update.thread_ts), update.status);
  } else if (update.type === "ephemeral") {
    const list = state.ephemerals.get(update.channel) || [];
    list.push({ html: update.html, after: lastTs(update.channel), seq: state.seq++ });
    state.ephemerals.set(update.channel, list);
  } else if (update.type === "sent" && !update.thread_ts && (update.mentions_bot || update.channel.startsWith("D"))) {
    state.thread = { channel: update.channel, ts: update.ts };  // follow the answer, as you would in Slack
  }
  render();
}

function lastTs(channel) {
  const tops = [...state.messages.values()].filter((m) => m.channel === channel && !m.thread_ts);
  return tops.length ? tops.map((m) => m.ts).sort().pop() : "";
}

function renderSidebar() {
  const item = (c) => `<li data-channel="${c.id}" class="${c.id === state.current ? "active" : ""}">` +
    `${c.id.startsWith("D") ? "● " : "# "}${escapeHtml(c.name)}</li>`;
  $("channels").innerHTML = state.channels.filter((c) => !c.id.startsWith("D")).map(item).join("");
  $("dms").innerHTML = state.channels.filter((c) => c.id.startsWith("D")).map(item).join("");
  document.querySelectorAll(".sidebar li").forEach((li) => {
    li.onclick = () => { state.current = li.dataset.channel; state.thread = null; renderSidebar(); render(); };
  });
}

function render() {
  const channel = state.channels.find((c) => c.id === state.current);
  if (!channel) return;
  const dm = channel.id.startsWith("D");
  $("channel-title").textContent = dm ? channel.name : `# ${channel.name}`;
  $("channel-input").placeholder = dm ? `Message ${channel.name}` :
    `Message #${channel.name}: @${state.bot} … or /backend-review …`;
  const all = [...state.messages.values()];
  const tops = all.filter((m) => m.channel === channel.id && !m.thread_ts)
    .map((m) => ({ sort: m.ts, html: messageHtml(m, all.filter((r) => r.channel === m.channel && r.thread_ts === m.ts).length) }));
  const mine = (state.ephemerals.get(channel.id) || [])
    .map((e) => ({ sort: `${e.after}~${String(e.seq).padStart(6, "0")}`, html: ephemeralHtml(e) }));
  fill($("channel-messages"), [...tops, ...mine].sort((a, b) => (a.sort < b.sort ? -1 : 1)).map((x) => x.html).join(""));

  const open = state.thread && state.thread.channel === channel.id ? state.thread : null;
  $("thread").hidden = !open;
  if (!open) {
    $("thread-messages").innerHTML = "";
    $("thread-status").textContent = "";
  } else {
    const parent = state.messages.get(key(open.channel, open.ts));
    const replies = all.filter((m) => m.channel === open.channel && m.thread_ts === open.ts).sort((a, b) => (a.ts < b.ts ? -1 : 1));
    fill($("thread-messages"), [parent, ...replies].filter(Boolean).map((m) => messageHtml(m, 0)).join(""));
    const status = state.statuses.get(key(open.channel, open.ts));
    $("thread-status").textContent = status ? `${state.bot} ${status}` : "";
  }
  bindMessageActions();
}

function fill(element, html) {
  const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 40;
  element.innerHTML = html;
  if (atBottom) element.scrollTop = element.scrollHeight;
}

function messageHtml(m, replyCount) {
  const chosen = state.chosen.get(key(m.channel, m.ts));
  const button = (value, label) => `<button type="button" data-feedback="${value}" data-channel="${m.channel}" ` +
    `data-ts="${m.ts}" class="${chosen === value ? "chosen" : ""}">${label}</button>`;
  return `<div class="message${m.is_bot ? " bot" : ""}${m.streaming ? " streaming" : ""}" data-ts="${m.ts}">` +
    `<div class="avatar">${escapeHtml(m.author[0].toUpperCase())}</div><div class="content">` +
    `<div><span class="author">${escapeHtml(m.author)}</span>${m.is_bot ? '<span class="app-badge">APP</span>' : ""}</div>` +
    `<div class="body">${m.html}</div>` +
    (m.reactions.length ? `<div class="reactions">${m.reactions.map((r) => `<span>${r}</span>`).join(" ")}</div>` : "") +
    m.footer.map((line) => `<div class="footer">${line}</div>`).join("") +
    (m.feedback ? `<div class="feedback">${button("helpful", "👍 Helpful")}${button("not_helpful", "👎 Not helpful")}</div>` : "") +
    (replyCount ? `<button type="button" class="replies" data-thread="${m.ts}" data-channel="${m.channel}">` +
      `${replyCount} repl${replyCount === 1 ? "y" : "ies"}</button>` : "") +
    `</div></div>`;
}

function ephemeralHtml(e) {
  return `<div class="message bot ephemeral"><div class="avatar">B</div><div class="content">` +
    `<div><span class="author">${escapeHtml(state.bot)}</span><span class="app-badge">APP</span>` +
    `<span class="only-you">Only visible to you</span></div><div class="body">${e.html}</div></div></div>`;
}

function bindMessageActions() {
  document.querySelectorAll("[data-thread]").forEach((b) => {
    b.onclick = () => { state.thread = { channel: b.dataset.channel, ts: b.dataset.thread }; render(); };
  });
  document.querySelectorAll("[data-feedback]").forEach((b) => {
    b.onclick = () => {
      state.chosen.set(key(b.dataset.channel, b.dataset.ts), b.dataset.feedback);
      socket.send(JSON.stringify({ type: "feedback", channel: b.dataset.channel, ts: b.dataset.ts, value: b.dataset.feedback }));
      render();
    };
  });
}

function composer(formId, inputId, target) {
  const input = $(inputId);
  const send = () => {
    const where = target();
    if (!input.value.trim() || !where) return;
    if (socket.readyState !== WebSocket.OPEN) {  // keep the text: nothing was sent
      $("banner").textContent = "Not connected to the playground, so that was not sent. Reload the page to reconnect.";
      $("banner").className = "banner dry-run";
      return;
    }
    socket.send(JSON.stringify({ type: "send", text: input.value, ...where }));
    input.value = "";
  };
  $(formId).onsubmit = (event) => { event.preventDefault(); send(); };
  input.onkeydown = (event) => {  // Enter sends, Shift+Enter starts a new line: as in Slack
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
  };
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

composer("channel-composer", "channel-input", () => ({ channel: state.current }));
composer("thread-composer", "thread-input", () => (state.thread ? { channel: state.thread.channel, thread_ts: state.thread.ts } : null));
$("close-thread").onclick = () => { state.thread = null; render(); };
connect();
