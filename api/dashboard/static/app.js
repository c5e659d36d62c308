// The settlement dashboard: a small single-page app over the JSON API.
// Every read goes to this server with the key in the Authorization header; what a key may see is
// decided by the API (a broker's key gets 403/404 for anything not its own), never by this page.
// Live updates: the /v1/events stream read with fetch() (EventSource cannot send headers).
"use strict";

const KEY_STORAGE = "settlement.apiKey";
const STATUSES = ["UNMATCHED", "PENDING", "LOCKED", "RELEASED", "REFUNDED", "FAILED", "WITHDRAWN", "LAPSED"];
const PAGE_SIZE = 25;

const state = { key: null, viewer: undefined, participants: new Map(), onEvent: null, stream: null };

// ------------------------------------------------------------------ small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function table(headers, rows, numeric = []) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x, i) => h("th", { class: numeric.includes(i) ? "num" : null }, x)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell, i) => h("td", { class: numeric.includes(i) ? "num" : null }, cell))))));
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

// Coins: two decimals with thousands separators in tables, computed exactly on the decimal string.
function coins2(value) {
  if (value === null || value === undefined || value === "") return "—";
  const negative = value.startsWith("-");
  const [whole, frac = ""] = value.replace("-", "").split(".");
  let cents = BigInt(whole) * 100n + BigInt((frac + "00").slice(0, 2));
  if ((frac + "000").charAt(2) >= "5") cents += 1n; // half up on the third decimal
  const text = (cents / 100n).toLocaleString("en-US") + "." + String(cents % 100n).padStart(2, "0");
  return (negative && cents !== 0n ? "-" : "") + text;
}

// Exact: every digit the API sent, with separators (a trade's own page).
function coinsExact(value) {
  if (!value) return "—";
  const negative = value.startsWith("-");
  const [whole, frac] = value.replace("-", "").split(".");
  const text = BigInt(whole).toLocaleString("en-US") + "." + (frac || "").padEnd(2, "0");
  return (negative ? "-" : "") + text;
}

function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "—"; }
function status(s) { return h("span", { class: `status ${s}` }, s); }
function check(ok) { return ok ? h("span", { class: "ok", title: "agree" }, "✓") : h("span", { class: "bad", title: "differ" }, "✗"); }
// Full hashes where someone may copy one; lists shorten the text, the link and its title stay whole.
function txLink(hash, brief = false) {
  if (!hash) return "—";
  return h("a", { href: `#/tx/${hash}`, class: "mono tx", title: hash }, brief ? `${hash.slice(0, 12)}…${hash.slice(-6)}` : hash);
}
function shortHash(hash) { return hash ? h("span", { class: "mono", title: hash }, `${hash.slice(0, 10)}…${hash.slice(-6)}`) : "—"; }
function name(id) { const p = state.participants.get(id); return p ? p.name : id; }
function code(text) { return h("code", {}, text); }

class ApiError extends Error {
  constructor(status, problem) { super(problem.detail || problem.title || `HTTP ${status}`); this.status = status; this.problem = problem; }
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${state.key}` } });
  if (!response.ok) {
    let problem = {};
    try { problem = await response.json(); } catch (_) { /* not JSON */ }
    if (response.status === 401) signOut("That key was not accepted.");
    throw new ApiError(response.status, problem);
  }
  return response;
}
async function getJson(path) { return (await api(path)).json(); }

async function download(path) {
  const response = await api(path);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = disposition.match(/filename="([^"]+)"/);
  const url = URL.createObjectURL(await response.blob());
  const a = h("a", { href: url, download: match ? match[1] : "export" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function downloadButtons(label, path, extra = "") {
  const join = path.includes("?") ? "&" : "?";
  return h("span", { class: "downloads" }, `${label}: `,
    h("button", { type: "button", "data-export": `${path}${join}format=csv${extra}`, onclick: () => download(`${path}${join}format=csv${extra}`).catch(showError) }, "CSV"), " ",
    h("button", { type: "button", "data-export": `${path}${join}format=json${extra}`, onclick: () => download(`${path}${join}format=json${extra}`).catch(showError) }, "JSON"));
}

function showError(error) {
  const view = document.getElementById("view");
  view.prepend(h("p", { class: "error" }, error.message || String(error)));
}

// ------------------------------------------------------------------ sign-in and the event stream

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  state.key = null;
  state.viewer = undefined;
  if (state.stream) state.stream.abort();
  state.stream = null;
  document.getElementById("signin-error").textContent = message || "";
  render();
}

async function signIn(key) {
  state.key = key;
  const overview = await getJson("/v1/overview");
  sessionStorage.setItem(KEY_STORAGE, key);
  state.viewer = overview.viewer_participant_id;
  await loadParticipants();
  startStream();
}

async function loadParticipants() {
  const list = await getJson("/v1/participants");
  state.participants = new Map(list.map((p) => [p.id, p]));
}

// Reads the text/event-stream body; reconnects with Last-Event-ID so nothing is missed.
function startStream() {
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  let lastId = null;
  const live = document.getElementById("live");
  const connect = async () => {
    while (!controller.signal.aborted) {
      try {
        const headers = { Authorization: `Bearer ${state.key}` };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch("/v1/events", { headers, signal: controller.signal });
        if (!response.ok) throw new Error(`events: HTTP ${response.status}`);
        live.classList.add("on");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const message = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const event = { type: "message", data: "" };
            for (const line of message.split("\n")) {
              if (line.startsWith("id: ")) lastId = line.slice(4);
              else if (line.startsWith("event: ")) event.type = line.slice(7);
              else if (line.startsWith("data: ")) event.data += line.slice(6);
            }
            if (event.type === "trade.status" && state.onEvent) state.onEvent(JSON.parse(event.data));
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
      }
      live.classList.remove("on");
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };
  connect();
}

// A page's live handler, kept only while that page is the one on screen (a slower, older page
// finishing late must not take the events of the current one).
function live(view, handler) {
  if (view.isConnected) state.onEvent = handler;
}

// Re-run a page's refresh at most every 300 ms however many events arrive.
function debounced(fn) {
  let timer = null;
  return () => { if (!timer) timer = setTimeout(() => { timer = null; fn(); }, 300); };
}

// ------------------------------------------------------------------ pages

async function overviewPage(view) {
  const [o, fx] = await Promise.all([getJson("/v1/overview"), getJson("/v1/fx-rates").catch(() => [])]);
  view.replaceChildren(h("h1", {}, "Overview"));
  const counts = h("div", { class: "cards", id: "status-counts" },
    STATUSES.map((s) => h("div", { class: "card", "data-status": s }, h("div", { class: "n" }, String(o.trade_counts[s] || 0)), h("div", { class: "l" }, s))));
  view.append(h("h2", {}, "Trades by status ", h("span", { class: "muted" }, "(live)")), counts);

  view.append(h("h2", {}, "Balances: on chain vs ledger vs escrow"),
    table(["broker", "wallet", "on chain", "ledger", "", "locked (trades)", "escrow (ledger)", "escrow (on chain)", ""],
      o.brokers.map((b) => [
        h("span", {}, b.name, " ", h("span", { class: "muted" }, b.jurisdiction)),
        h("span", { class: "mono" }, b.address),
        coins2(b.on_chain), coins2(b.ledger), check(b.wallet_agrees),
        coins2(b.locked_trades), coins2(b.locked_ledger), coins2(b.locked_on_chain), check(b.escrow_agrees),
      ]), [2, 3, 5, 6, 7]));

  const recon = h("div", { id: "reconciliation" }, h("p", { class: "muted" }, "Reconciling…"));
  const audit = h("div", { id: "audit" });
  view.append(h("h2", {}, "Reconciliation"), recon, h("h2", {}, "Audit chain"), audit);
  audit.append(kv([
    ["journal head", h("span", {}, `entry ${o.journal_seq}: `, code(o.journal_head_hash))],
    ["latest on-chain anchor", o.anchor ? code(o.anchor) : h("span", { class: "muted" }, "not anchored yet (the worker anchors every SETTLEMENT_ANCHOR_INTERVAL_S; POST /v1/audit/anchors anchors now)")],
  ]));
  view.append(h("h2", {}, "Chain"), kv([
    ["chain id", String(o.chain_id)],
    ["latest block / indexed", `${o.latest_block} / ${o.indexed_block ?? "—"}`],
    ["token", code(o.token_address)],
    ["escrow", code(o.escrow_address)],
    ["RPC URL", o.rpc_url ? code(o.rpc_url) : h("span", { class: "muted" }, "operator only")],
    ["FX rates (USD per unit)", fx.map((q) => `${q.currency} ${q.rate_to_usd} (${q.source})`).join(" · ") || "—"],
  ]));

  if (state.viewer === null) {
    view.insertBefore(h("div", { class: "toolbar" }, downloadButtons("reconciliation export", "/v1/exports/reconciliation")), recon);
    getJson("/v1/reconciliation").then((r) => {
      recon.replaceChildren(kv([
        ["result", r.balanced ? h("span", { class: "ok" }, "✓ balanced") : h("span", { class: "bad" }, `✗ ${r.breaks.length} break(s)`)],
        ["at block", String(r.block_number)],
        ["checks", String(r.checks)],
      ]));
      if (r.breaks.length) {
        recon.append(table(["kind", "account", "on chain", "ledger", "difference", "detail"],
          r.breaks.map((b) => [b.kind, h("span", { class: "mono" }, b.account), coins2(b.on_chain), coins2(b.ledger), coins2(b.difference), b.detail]), [2, 3, 4]));
      }
    }).catch((e) => recon.replaceChildren(h("p", { class: "error" }, e.message)));
    getJson("/v1/audit/verify").then((v) => {
      audit.prepend(kv([["verification", v.ok ? h("span", { class: "ok" }, `✓ ${v.entries} entries verified`) : h("span", { class: "bad" }, `✗ ${v.problems.length} problem(s)`)]]));
    }).catch(() => {});
  } else {
    recon.replaceChildren(h("p", { class: "muted" }, "Reconciliation is the operator's; your balances above show whether chain and ledger agree."));
  }

  const refresh = debounced(async () => {
    const fresh = await getJson("/v1/overview");
    for (const s of STATUSES) {
      const card = counts.querySelector(`[data-status="${s}"] .n`);
      if (card) card.textContent = String(fresh.trade_counts[s] || 0);
    }
  });
  live(view, refresh);
}

async function tradesPage(view, params) {
  const filter = { status: params.get("status") || "", participant_id: params.get("participant") || "" };
  view.replaceChildren(h("h1", {}, "Trades"));
  const statusSelect = h("select", { id: "status-filter", onchange: () => go({ status: statusSelect.value }) },
    h("option", { value: "" }, "any status"), STATUSES.map((s) => h("option", { value: s, selected: s === filter.status }, s)));
  const toolbar = h("div", { class: "toolbar" }, statusSelect);
  if (state.viewer === null) {
    const who = h("select", { onchange: () => go({ participant: who.value }) }, h("option", { value: "" }, "any broker"),
      [...state.participants.values()].map((p) => h("option", { value: p.id, selected: p.id === filter.participant_id }, p.name)));
    toolbar.append(who);
  }
  toolbar.append(downloadButtons("export", "/v1/exports/trades", filter.status ? `&status=${filter.status}` : ""));
  const go = (change) => {
    const next = new URLSearchParams({ status: filter.status, participant: filter.participant_id, ...change });
    for (const [k, v] of [...next.entries()]) if (!v) next.delete(k);
    location.hash = `#/trades?${next}`;
  };
  const body = h("div", {});
  view.append(toolbar, body);
  const cursors = [null];
  const load = async () => {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (filter.status) query.set("status", filter.status);
    if (filter.participant_id) query.set("participant_id", filter.participant_id);
    const cursor = cursors[cursors.length - 1];
    if (cursor) query.set("cursor", cursor);
    const page = await getJson(`/v1/trades?${query}`);
    const rows = page.items.map((t) => [
      h("a", { href: `#/trade/${t.id}` }, t.trade_ref),
      h("span", { "data-trade-status": t.id }, status(t.status)),
      `${name(t.buyer_id)} ← ${name(t.seller_id)}`,
      t.instrument,
      `${t.quantity} @ ${t.price} ${t.currency}`,
      coins2(t.settlement_amount),
      txLink(t.release_tx_hash || t.refund_tx_hash || t.lock_tx_hash, true),
    ]);
    body.replaceChildren(
      table(["ref", "status", "buyer ← seller", "instrument", "quantity @ price", "coins", "latest tx"], rows, [5]),
      h("div", { class: "toolbar" },
        h("button", { type: "button", disabled: cursors.length === 1, onclick: () => { cursors.pop(); load(); } }, "← previous"),
        h("span", { class: "muted" }, `page ${cursors.length}`),
        h("button", { type: "button", disabled: !page.next_cursor, onclick: () => { cursors.push(page.next_cursor); load(); } }, "next →")));
  };
  await load();
  live(view, debounced(() => load().catch(showError)));
}

async function tradePage(view, id) {
  const load = async () => {
    const [t, transitions] = await Promise.all([getJson(`/v1/trades/${id}`), getJson(`/v1/trades/${id}/transitions`)]);
    const submitter = t.submitted_by === "operator" ? "the operator" : name(t.submitted_by);
    const counterparty = t.submitted_by === t.buyer_id ? t.seller_id : t.buyer_id;
    view.replaceChildren(
      h("h1", {}, `Trade ${t.trade_ref} `, h("span", { id: "trade-status" }, status(t.status))),
      h("h2", {}, "Terms"),
      kv([
        ["buyer (pays)", `${name(t.buyer_id)}${t.buyer_client_id ? ` · client ${t.buyer_client_id}` : ""}`],
        ["seller (delivers)", `${name(t.seller_id)}${t.seller_client_id ? ` · client ${t.seller_client_id}` : ""}`],
        ["instrument", t.instrument],
        ["quantity @ price", `${t.quantity} @ ${t.price} ${t.currency}`],
        ["settlement amount", h("span", { id: "settlement-amount" }, `${coinsExact(t.settlement_amount)} coins`)],
        ["FX rate", `${t.fx_rate} USD per ${t.currency} · source ${t.fx_source} · as of ${when(t.fx_as_of)}`],
        ["deadline", when(t.deadline)],
        ["trade id / on chain", h("span", {}, code(t.id), " / ", code(t.chain_trade_id))],
        ["refs (buyer / seller)", `${t.buyer_ref || "—"} / ${t.seller_ref || "—"}`],
        ["error", t.error_code ? `${t.error_code}: ${t.error_detail}` : null],
      ]),
      h("h2", {}, "Consent"),
      h("ol", { class: "steps" },
        h("li", {}, `alleged by ${submitter} at ${when(t.created_at)}`),
        t.matched_by === "affirm" ? h("li", {}, `affirmed by ${t.affirmed_by ? name(t.affirmed_by) : name(counterparty)} at ${when(t.matched_at)}`)
          : t.matched_by === "instruction" ? h("li", {}, `matched on terms with ${name(counterparty)}'s own instruction at ${when(t.matched_at)}`)
            : t.matched_by === "operator" ? h("li", {}, "submitted matched by the operator") : h("li", { class: "muted" }, "not matched yet"),
        h("li", {}, t.lock_authorized || t.lock_tx_hash ? "lock authorised by the buyer's EIP-712 signature" : "lock not authorised yet"),
        h("li", {}, t.delivered_at ? `delivery reported by the seller at ${when(t.delivered_at)}` : "delivery not reported"),
        h("li", {}, t.release_requested ? "delivery confirmed (release requested by the buyer or the operator)" : "delivery not confirmed"),
        cancelStep(t)),
      h("h2", {}, "Transactions"),
      kv([["lock", txLink(t.lock_tx_hash)], ["release", txLink(t.release_tx_hash)], ["refund", txLink(t.refund_tx_hash)]]),
      h("h2", {}, "Transitions"),
      table(["at", "from", "to", "tx", "block", "error"],
        transitions.map((x) => [when(x.at), x.from_status || "—", status(x.to_status), txLink(x.tx_hash), x.block_number ?? "—", x.error_code || ""]), [4]),
      h("h2", {}, "Proof"),
      h("p", { class: "muted" }, "no proof: gross trade (inclusion proofs arrive with net settlement windows)"));
  };
  await load();
  live(view, (event) => { if (event.trade_id === id) load().catch(showError); });
}

function cancelStep(t) {
  const sides = [t.buyer_cancel_requested && "the buyer", t.seller_cancel_requested && "the seller"].filter(Boolean);
  if (sides.length) return h("li", {}, `cancel asked by ${sides.join(" and ")}`);
  return t.cancel_requested ? h("li", {}, "cancelled by the operator") : null;
}

// Token amounts (6 decimals) also read as coins next to their exact base units.
const AMOUNT_NAMES = ["value", "amount", "amounts", "total", "totalAmount"];
function renderArg(arg) {
  const shown = renderValue(arg.value);
  if (arg.type === "uint256" && AMOUNT_NAMES.includes(arg.name) && /^[0-9]+$/.test(arg.value)) {
    const units = arg.value.padStart(7, "0");
    return h("span", {}, shown, h("span", { class: "muted" }, ` (${coins2(`${units.slice(0, -6)}.${units.slice(-6)}`)} coins)`));
  }
  return shown;
}

function renderValue(value) {
  if (Array.isArray(value)) {
    return h("ol", { start: "0" }, value.map((item) => h("li", {}, typeof item === "object" && item !== null && "name" in item ? `${item.name}: ${JSON.stringify(item.value)}` : renderValue(item))));
  }
  return h("span", { class: "mono" }, String(value));
}

async function txPage(view, hash) {
  const tx = await getJson(`/v1/transactions/${hash}`);
  view.replaceChildren(
    h("h1", {}, "Transaction"),
    kv([
      ["hash", code(tx.tx_hash)],
      ["status", tx.status === 1 ? h("span", { class: "ok" }, "success") : tx.status === 0 ? h("span", { class: "bad" }, "reverted") : "pending"],
      ["block", tx.block_number === null ? "pending" : h("span", {}, String(tx.block_number), " ", code(tx.block_hash || ""))],
      ["from", code(tx.from_address)],
      ["to", h("span", {}, code(tx.to_address || "contract creation"), tx.contract ? ` (${tx.contract})` : "")],
      ["function", h("span", { id: "tx-function", class: "mono" }, tx.function ? `${tx.function}(${tx.args.map((a) => a.type).join(",")})` : `unknown ${tx.selector || ""}`)],
      ["gas used / limit", `${tx.gas_used ?? "—"} / ${tx.gas_limit}`],
      ["nonce", String(tx.nonce)],
    ]),
    h("h2", {}, "Arguments"),
    tx.args.length ? table(["name", "type", "value"], tx.args.map((a) => [a.name, h("span", { class: "mono" }, a.type), renderArg(a)])) : h("p", { class: "muted" }, "none decoded"),
    h("h2", {}, `Events (${tx.events.length})`),
    table(["#", "contract", "event", "arguments"], tx.events.map((e) => [
      String(e.log_index), e.contract || h("span", { class: "mono" }, e.address), e.name || "unknown",
      e.args.length ? h("div", {}, e.args.map((a) => h("div", {}, `${a.name} = `, renderArg(a)))) : h("span", { class: "mono" }, e.topics.join(" ")),
    ])));
  live(view, null);
}

async function ledgerPage(view, params) {
  view.replaceChildren(h("h1", {}, "Ledger"));
  const accounts = [];
  if (state.viewer === null) {
    accounts.push(["", "all accounts"]);
    for (const p of state.participants.values()) accounts.push([`wallet:${p.address.toLowerCase()}`, `${p.name} (wallet)`]);
  } else {
    const me = state.participants.get(state.viewer);
    accounts.push([`wallet:${me.address.toLowerCase()}`, `${me.name} (wallet)`]);
    const clients = await getJson(`/v1/participants/${state.viewer}/clients`);
    for (const c of clients) accounts.push([`client:${c.id}`, `client ${c.name}`]);
  }
  const chosen = params.get("account") || accounts[0][0];
  const select = h("select", { id: "account-filter", onchange: () => { location.hash = `#/ledger?account=${encodeURIComponent(select.value)}`; } },
    accounts.map(([value, label]) => h("option", { value, selected: value === chosen }, label)));
  const exportPath = chosen ? `/v1/exports/journal?account=${encodeURIComponent(chosen)}` : "/v1/exports/journal";
  view.append(h("div", { class: "toolbar" }, select, downloadButtons("export", exportPath)));
  const body = h("div", {});
  view.append(body);
  const cursors = [null];
  const load = async () => {
    const query = new URLSearchParams({ limit: "50" });
    if (chosen) query.set("account", chosen);
    if (cursors[cursors.length - 1]) query.set("cursor", cursors[cursors.length - 1]);
    const page = await getJson(`/v1/ledger/entries?${query}`);
    body.replaceChildren(
      table(["seq", "time", "kind", "description", "postings", "tx", "entry hash", "previous hash"], page.items.map((e) => [
        String(e.seq), when(e.created_at), e.kind, e.trade_id ? h("a", { href: `#/trade/${e.trade_id}` }, e.description || e.trade_id) : e.description,
        h("div", {}, e.postings.map((p) => h("div", {}, h("span", { class: "mono" }, p.account), " ", h("span", { class: "num" }, coins2(p.amount))))),
        txLink(e.tx_hash, true), shortHash(e.entry_hash), shortHash(e.prev_hash),
      ])),
      h("div", { class: "toolbar" },
        h("button", { type: "button", disabled: cursors.length === 1, onclick: () => { cursors.pop(); load(); } }, "← previous"),
        h("span", { class: "muted" }, `page ${cursors.length}`),
        h("button", { type: "button", disabled: !page.next_cursor, onclick: () => { cursors.push(page.next_cursor); load(); } }, "next →")));
  };
  await load();
  live(view, null);
}

function windowsPage(view) {
  view.replaceChildren(h("h1", {}, "Settlement windows"),
    h("div", { class: "placeholder" }, "Windows arrive with net settlement: gross vs net per broker, the liquidity saved and each window's settlement transaction will show here. Trades settle gross today, one lock and one release each."));
  live(view, null);
}

function exportsPage(view) {
  view.replaceChildren(h("h1", {}, "Exports for auditors"),
    h("p", { class: "muted" }, "Each file is stamped with the block number, block hash and journal head hash it was taken at: re-read the chain at that block and run the journal verification to check it later."));
  const list = h("div", {});
  list.append(h("p", {}, downloadButtons("Journal (one row per posting)", "/v1/exports/journal")));
  list.append(h("p", {}, downloadButtons("Trades", "/v1/exports/trades")));
  if (state.viewer === null) list.append(h("p", {}, downloadButtons("Reconciliation", "/v1/exports/reconciliation")));
  const people = state.viewer === null ? [...state.participants.values()] : [state.participants.get(state.viewer)];
  const who = h("select", { id: "statement-participant" }, people.map((p) => h("option", { value: p.id }, p.name)));
  const from = h("input", { type: "datetime-local", id: "statement-from" });
  const to = h("input", { type: "datetime-local", id: "statement-to" });
  const period = () => {
    const q = [];
    if (from.value) q.push(`from=${encodeURIComponent(new Date(from.value).toISOString())}`);
    if (to.value) q.push(`to=${encodeURIComponent(new Date(to.value).toISOString())}`);
    return q.length ? `&${q.join("&")}` : "";
  };
  const statement = (fmt) => download(`/v1/exports/statements/${who.value}?format=${fmt}${period()}`).catch(showError);
  list.append(h("h2", {}, "Statement"),
    h("div", { class: "toolbar" }, who, "from", from, "to", to,
      h("button", { type: "button", id: "statement-csv", onclick: () => statement("csv") }, "CSV"),
      h("button", { type: "button", onclick: () => statement("json") }, "JSON")));
  view.append(list);
  live(view, null);
}

// ------------------------------------------------------------------ routing

async function render() {
  const signedIn = Boolean(state.key) && state.viewer !== undefined;
  document.getElementById("signin").hidden = signedIn;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("signout").hidden = !signedIn;
  const view = document.getElementById("view");
  if (!signedIn) {
    view.replaceChildren();
    document.getElementById("whoami").textContent = "";
    return;
  }
  document.getElementById("whoami").textContent = state.viewer === null ? "operator" : name(state.viewer);
  const [path, query] = (location.hash.slice(1) || "/overview").split("?");
  const [, page, arg] = path.split("/");
  const params = new URLSearchParams(query || "");
  for (const a of document.querySelectorAll("#nav a[data-page]")) {
    a.classList.toggle("active", a.dataset.page === page || (page === "trade" && a.dataset.page === "trades"));
  }
  state.onEvent = null;
  const host = view;
  host.dataset.page = "";
  const pageView = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  host.replaceChildren(pageView);
  try {
    if (page === "trades") await tradesPage(pageView, params);
    else if (page === "trade") await tradePage(pageView, arg);
    else if (page === "tx") await txPage(pageView, arg);
    else if (page === "ledger") await ledgerPage(pageView, params);
    else if (page === "windows") windowsPage(pageView);
    else if (page === "exports") exportsPage(pageView);
    else await overviewPage(pageView);
    if (pageView.isConnected) host.dataset.page = page || "overview";
  } catch (error) {
    if (!pageView.isConnected) return;
    host.dataset.page = "error";
    pageView.replaceChildren(h("p", { class: "error", id: "page-error" },
      error.status === 404 ? "Not found (or not yours to see)." : error.message || String(error)));
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = document.getElementById("api-key").value.trim();
    try {
      await signIn(key);
      document.getElementById("signin-error").textContent = "";
    } catch (error) {
      state.key = null;
      document.getElementById("signin-error").textContent = error.status === 401 ? "That key was not accepted." : error.message;
    }
    render();
  });
  document.getElementById("signout").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", render);
  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (saved) {
    try { await signIn(saved); } catch (_) { state.key = null; }
  }
  render();
});
