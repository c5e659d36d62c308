// The settlement dashboard: a small single-page app over the JSON API.
// Every read goes to this server with the key in the Authorization header; what a key may see is
// decided by the API (a broker's key gets 403/404 for anything not its own), never by this page.
// Live updates: the /v1/events stream read with fetch() (EventSource cannot send headers).
"use strict";

const KEY_STORAGE = "settlement.apiKey";
const STATUSES = ["UNMATCHED", "PENDING", "LOCKED", "RELEASED", "IN_WINDOW", "SETTLED", "REFUNDED", "FAILED", "WITHDRAWN", "LAPSED"];
const WINDOW_STATUSES = ["OPEN", "CLOSED", "PENDING_SETTLEMENT", "SETTLED"];
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

// a - b on 6-decimal coin strings, exactly (BigInt base units), back as a coin string.
function coinsMinus(a, b) {
  if (a === null || a === undefined || b === null || b === undefined) return null;
  const units = (v) => {
    const negative = v.startsWith("-");
    const [whole, frac = ""] = v.replace("-", "").split(".");
    const n = BigInt(whole) * 1000000n + BigInt((frac + "000000").slice(0, 6));
    return negative ? -n : n;
  };
  const d = units(a) - units(b);
  const abs = d < 0n ? -d : d;
  return `${d < 0n ? "-" : ""}${abs / 1000000n}.${String(abs % 1000000n).padStart(6, "0")}`;
}
// "0.8299" -> "82.99 %"
function percent(ratio) {
  if (ratio === null || ratio === undefined || ratio === "") return "—";
  return `${(Number(ratio) * 100).toFixed(2)} %`;
}
function windowLink(id) { return id === null || id === undefined ? "—" : h("a", { href: `#/window/${id}`, class: "window-link" }, `#${id}`); }

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

async function download(path, fallbackName = "export") {
  const response = await api(path);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = disposition.match(/filename="([^"]+)"/);
  const url = URL.createObjectURL(await response.blob());
  const a = h("a", { href: url, download: match ? match[1] : fallbackName });
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
            if ((event.type === "trade.status" || event.type.startsWith("window.")) && state.onEvent) {
              state.onEvent({ ...JSON.parse(event.data || "{}"), kind: event.type });
            }
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
      h("span", { class: "mode" }, t.settlement_mode || "gross"),
      windowLink(t.window_id),
      txLink(t.release_tx_hash || t.refund_tx_hash || t.lock_tx_hash, true),
    ]);
    body.replaceChildren(
      table(["ref", "status", "buyer ← seller", "instrument", "quantity @ price", "coins", "mode", "window", "latest tx"], rows, [5]),
      h("div", { class: "toolbar" },
        h("button", { type: "button", disabled: cursors.length === 1, onclick: () => { cursors.pop(); load(); } }, "← previous"),
        h("span", { class: "muted" }, `page ${cursors.length}`),
        h("button", { type: "button", disabled: !page.next_cursor, onclick: () => { cursors.push(page.next_cursor); load(); } }, "next →")));
  };
  await load();
  live(view, debounced(() => load().catch(showError)));
}

async function tradePage(view, id) {
  let shown = null;
  const load = async () => {
    const [t, transitions] = await Promise.all([getJson(`/v1/trades/${id}`), getJson(`/v1/trades/${id}/transitions`)]);
    const net = t.settlement_mode === "net";
    // A net trade's coins move in its window's one transaction; its proof exists once that window settled.
    shown = t;
    const win = net && t.window_id !== null && t.window_id !== undefined ? await getJson(`/v1/windows/${t.window_id}`).catch(() => null) : null;
    const proof = net && t.status === "SETTLED" ? await getJson(`/v1/trades/${id}/proof`).catch(() => null) : null;
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
        ["settlement mode", h("span", { id: "settlement-mode" }, net
          ? "net: settled with its window's other trades, one transaction for all (no escrow lock)"
          : "gross: its own escrow lock and release")],
        ["window", h("span", { id: "trade-window" }, windowLink(t.window_id))],
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
        net ? h("li", {}, "no escrow lock: reserved against the buyer's net debit cap once matched")
          : h("li", {}, t.lock_authorized || t.lock_tx_hash ? "lock authorised by the buyer's EIP-712 signature" : "lock not authorised yet"),
        h("li", {}, t.delivered_at ? `delivery reported by the seller at ${when(t.delivered_at)}` : "delivery not reported"),
        net ? h("li", {}, t.window_id !== null && t.window_id !== undefined ? `delivery confirmed: joined window #${t.window_id}` : "delivery not confirmed")
          : h("li", {}, t.release_requested ? "delivery confirmed (release requested by the buyer or the operator)" : "delivery not confirmed"),
        cancelStep(t)),
      h("h2", {}, "Transactions"),
      net ? kv([["window settlement", win ? txLink(win.settlement_tx_hash) : "—"]])
        : kv([["lock", txLink(t.lock_tx_hash)], ["release", txLink(t.release_tx_hash)], ["refund", txLink(t.refund_tx_hash)]]),
      h("h2", {}, "Transitions"),
      table(["at", "from", "to", "tx", "block", "error"],
        transitions.map((x) => [when(x.at), x.from_status || "—", status(x.to_status), txLink(x.tx_hash), x.block_number ?? "—", x.error_code || ""]), [4]),
      h("h2", {}, "Proof"),
      proofSection(t, proof));
  };
  await load();
  const ofThisWindow = (event) => event.kind.startsWith("window.") && shown && shown.window_id !== null && event.window_id === shown.window_id;
  live(view, (event) => { if (event.trade_id === id || ofThisWindow(event)) load().catch(showError); });
}

// A settled net trade's Merkle proof: what a counterparty checks against the chain without trusting us.
function proofSection(t, proof) {
  if (t.settlement_mode !== "net") return h("p", { class: "muted", id: "proof" }, "no proof: gross trade (its own lock and release transactions settle it)");
  if (!proof) {
    return h("p", { class: "muted", id: "proof" }, t.window_id !== null && t.window_id !== undefined
      ? `the inclusion proof is available once window #${t.window_id} has settled`
      : "the inclusion proof is available once the trade's window has settled");
  }
  const file = `proof-${t.trade_ref}.json`;
  return h("div", { id: "proof" },
    kv([
      ["window", windowLink(proof.window_id)],
      ["leaf", h("span", {}, code(proof.chain_trade_id), " · payer ", code(proof.payer), " · payee ", code(proof.payee), ` · ${proof.amount_base_units} base units`)],
      ["siblings", proof.proof.length ? h("ol", { start: "0" }, proof.proof.map((x) => h("li", {}, code(x)))) : "none (the window's only trade)"],
      ["root", h("span", { id: "proof-root" }, code(proof.root))],
      ["contract / chain", h("span", {}, code(proof.contract || "—"), ` · chain id ${proof.chain_id ?? "—"}`)],
    ]),
    h("p", {}, h("button", { type: "button", id: "proof-download", onclick: () => download(`/v1/trades/${t.id}/proof`, file).catch(showError) }, "Download proof JSON")),
    h("p", { class: "muted" }, "Check it against the chain, with nothing but an RPC endpoint:"),
    h("pre", { class: "mono" }, `python -m settlement verify-proof ${file} --rpc-url <RPC URL> --contract ${proof.contract || "<SettlementNet address>"}`));
}

function cancelStep(t) {
  const sides = [t.buyer_cancel_requested && "the buyer", t.seller_cancel_requested && "the seller"].filter(Boolean);
  if (sides.length) return h("li", {}, `cancel asked by ${sides.join(" and ")}`);
  return t.cancel_requested ? h("li", {}, "cancelled by the operator") : null;
}

// Token amounts (6 decimals) also read as coins next to their exact base units; net positions are signed.
const AMOUNT_NAMES = ["value", "amount", "amounts", "total", "totalAmount", "netPositions", "position", "balanceAfter"];
function baseUnitsAsCoins(units) {
  const negative = units.startsWith("-");
  const digits = units.replace("-", "").padStart(7, "0");
  return coins2(`${negative ? "-" : ""}${digits.slice(0, -6)}.${digits.slice(-6)}`);
}
function renderArg(arg) {
  const isAmount = /^u?int256(\[\])?$/.test(arg.type) && AMOUNT_NAMES.includes(arg.name);
  if (isAmount && Array.isArray(arg.value) && arg.value.every((v) => /^-?[0-9]+$/.test(String(v)))) {
    return h("ol", { start: "0" }, arg.value.map((v) => h("li", {}, h("span", { class: "mono" }, String(v)), h("span", { class: "muted" }, ` (${baseUnitsAsCoins(String(v))} coins)`))));
  }
  const shown = renderValue(arg.value);
  if (isAmount && /^-?[0-9]+$/.test(String(arg.value))) {
    return h("span", {}, shown, h("span", { class: "muted" }, ` (${baseUnitsAsCoins(String(arg.value))} coins)`));
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

// ------------------------------------------------------------------ net settlement windows

async function closeWindow(id) {
  await api(`/v1/windows/${id}/close`, { method: "POST" });
}

function closeButton(w, after) {
  if (state.viewer !== null || w.status !== "OPEN") return null;
  return h("button", { type: "button", class: "primary", "data-close-window": String(w.id),
    onclick: () => closeWindow(w.id).then(after).catch(showError) }, "Close now");
}

function savedText(w) {
  if (w.gross_total === null || w.gross_total === undefined) return "—";
  return `${percent(w.liquidity_saved_ratio)} (${coins2(coinsMinus(w.gross_total, w.net_total))} coins)`;
}

async function windowsPage(view, params) {
  const filter = params.get("status") || "";
  view.replaceChildren(h("h1", {}, "Settlement windows"),
    h("p", { class: "muted" }, "Net mode: trades whose delivery is confirmed wait in the open window; when it closes (timer, size, or the operator), "
      + "each broker pays or receives only its net position, in one SettlementNet transaction for the whole window, "
      + "which also records the Merkle root of the window's trades."));
  const statusSelect = h("select", { id: "window-status-filter", onchange: () => {
    location.hash = statusSelect.value ? `#/windows?status=${statusSelect.value}` : "#/windows";
  } }, h("option", { value: "" }, "any status"), WINDOW_STATUSES.map((s) => h("option", { value: s, selected: s === filter }, s)));
  const body = h("div", {});
  view.append(h("div", { class: "toolbar" }, statusSelect, h("span", { class: "muted" }, "newest first, up to 50")), body);
  const operator = state.viewer === null;
  const load = async () => {
    const query = new URLSearchParams({ limit: "50" });
    if (filter) query.set("status", filter);
    const { items } = await getJson(`/v1/windows?${query}`);
    const headers = ["window", "status", "opened", "closed", "trades", "gross", "net", "liquidity saved", operator ? null : "your net", "settlement tx", "root", ""]
      .filter((x) => x !== null);
    const rows = items.map((w) => [
      h("a", { href: `#/window/${w.id}`, class: "window-link" }, `#${w.id}`),
      h("span", { "data-window-status": String(w.id) }, status(w.status)),
      when(w.opened_at), when(w.closed_at),
      String(w.trade_count), coins2(w.gross_total), coins2(w.net_total), savedText(w),
      operator ? null : coins2(w.positions.length ? w.positions[0].net : null),
      txLink(w.settlement_tx_hash, true), shortHash(w.trades_root),
      closeButton(w, load) || "",
    ].filter((x) => x !== null));
    const numeric = operator ? [4, 5, 6, 7] : [4, 5, 6, 7, 8];
    body.replaceChildren(items.length ? table(headers, rows, numeric)
      : h("p", { class: "muted", id: "no-windows" }, filter ? `No ${filter} window.` : "No window yet: net trades open one when they join."));
  };
  await load();
  live(view, debounced(() => load().catch(showError)));
}

async function windowPage(view, id) {
  const load = async () => {
    const w = await getJson(`/v1/windows/${id}`);
    const operator = state.viewer === null;
    const totals = (field) => w.positions.reduce((sum, p) => coinsMinus(sum, coinsMinus("0", p[field])), "0.000000");
    const rows = w.positions.map((p) => [
      h("span", {}, p.name || name(p.participant_id)), h("span", { class: "mono" }, p.address),
      coins2(p.pays), coins2(p.receives),
      h("span", { class: p.net.startsWith("-") ? "bad" : "ok" }, coins2(p.net)),
    ]);
    if (operator && w.positions.length) {
      rows.push([h("strong", {}, "total"), "", h("strong", {}, coins2(totals("pays"))), h("strong", {}, coins2(totals("receives"))), h("strong", {}, coins2(totals("net")))]);
    }
    view.replaceChildren(
      h("h1", {}, `Window #${w.id} `, h("span", { id: "window-status" }, status(w.status))),
      state.viewer === null && w.status === "OPEN" ? h("div", { class: "toolbar" }, closeButton(w, () => load().catch(showError)),
        h("span", { class: "muted" }, "or it closes on its timer (SETTLEMENT_WINDOW_LENGTH_S) or size limit; the worker then settles it")) : null,
      kv([
        ["opened", when(w.opened_at)],
        ["closed", w.closed_at ? `${when(w.closed_at)}${w.close_block !== null ? ` · at block ${w.close_block}` : ""}` : "open: trades whose delivery is confirmed join it"],
        ["trades", h("span", { id: "window-trade-count" }, String(w.trade_count))],
        ["gross (sum of trades)", h("span", { id: "window-gross" }, w.gross_total === null ? "—" : `${coinsExact(w.gross_total)} coins`)],
        ["net (what moves)", h("span", { id: "window-net" }, w.net_total === null ? "—" : `${coinsExact(w.net_total)} coins`)],
        ["liquidity saved", h("span", { id: "window-saved" }, savedText(w))],
        ["settlement tx", h("span", { id: "window-tx" }, txLink(w.settlement_tx_hash))],
        ["settled", w.settled_at ? `${when(w.settled_at)}${w.settlement_block !== null ? ` · block ${w.settlement_block}` : ""}` : "not yet"],
        ["trades root", h("span", { id: "window-root" }, w.trades_root ? code(w.trades_root) : "— (set when the window is settled)")],
      ]),
      h("h2", {}, operator ? "Positions per broker" : "Your position"),
      w.positions.length
        ? table(["broker", "wallet", "pays (gross)", "receives (gross)", "net"], rows, [2, 3, 4])
        : h("p", { class: "muted" }, "no positions yet"),
      h("p", { class: "muted" }, "A negative net is debited from the broker's settlement balance, a positive one credited; "
        + "the nets sum to zero. Each trade's inclusion under the root can be checked on chain from its proof (the trade's page)."));
  };
  await load();
  live(view, debounced(() => load().catch(showError)));
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
    a.classList.toggle("active", a.dataset.page === page || (page === "trade" && a.dataset.page === "trades") || (page === "window" && a.dataset.page === "windows"));
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
    else if (page === "windows") await windowsPage(pageView, params);
    else if (page === "window") await windowPage(pageView, arg);
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
