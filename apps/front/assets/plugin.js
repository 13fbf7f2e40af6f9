// The Front sidebar plugin (apps/front): our own small client of Front's plugin protocol
// (the official SDK is not shipped) and the sidebar itself. Everything is rendered with DOM
// APIs and textContent: nothing a customer or a model wrote is ever parsed as HTML.
//
// Protocol: on load we create a MessageChannel and post the handshake with its second port to
// window.parent; Front answers on our port with {type:'context_update', context} on every
// selection change; calls go out as {type:'function_call', id, contextId, name, args} and come
// back as {type:'function_result', id, value} or {type:'function_error', id, error}.
(function () {
  'use strict';
  var HANDSHAKE = '@frontapp/ui-sdk#WebViewBridge.handshake';
  var CRED_KEY = 'support.frontPlugin.credential';
  var STATE_KEY = 'support.frontPlugin.linkState';
  var meta = function (n) { var m = document.querySelector('meta[name="' + n + '"]'); return m ? m.content : ''; };
  var token = meta('plugin-token');
  var base = meta('plugin-base');
  var port = null;
  var context = null;
  var me = { linked: false, can_decide: false };
  var pending = {};
  var seq = 0;
  var renderSeq = 0;
  var linkTimer = null;
  var app = document.getElementById('app');

  function store(k, v) { try { if (v === null) { localStorage.removeItem(k); } else { localStorage.setItem(k, v); } } catch (e) { /* storage off */ } }
  function load(k) { try { return localStorage.getItem(k); } catch (e) { return null; } }

  // ---- Front's protocol -------------------------------------------------------------------
  function call(name, args) {
    return new Promise(function (resolve, reject) {
      if (!port || !context) { reject(new Error('not connected to Front')); return; }
      seq += 1;
      var id = 'call-' + Date.now().toString(36) + '-' + seq;
      pending[id] = { resolve: resolve, reject: reject };
      port.postMessage({ type: 'function_call', id: id, contextId: context.id, name: name, args: args });
    });
  }

  function onMessage(ev) {
    var m = ev.data || {};
    if (m.type === 'context_update') {
      if (!context || !m.context || context.id !== m.context.id) { lastFlash = null; }
      context = m.context;
      render();
    } else if (m.type === 'function_result' || m.type === 'function_error') {
      var p = pending[m.id];
      if (!p) { return; }
      delete pending[m.id];
      if (m.type === 'function_result') { p.resolve(m.value); } else { p.reject(new Error(String(m.error))); }
    }
  }

  function connect() {
    var channel = new MessageChannel();
    port = channel.port1;
    port.onmessage = onMessage;
    port.start();
    window.parent.postMessage(HANDSHAKE, '*', [channel.port2]);
  }

  // ---- our API ----------------------------------------------------------------------------
  function api(method, path, body) {
    var opts = { method: method, headers: { 'Authorization': 'Bearer ' + token }, credentials: 'omit', referrerPolicy: 'no-referrer' };
    if (body !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (json) {
        if (!res.ok) { var e = new Error((json.error && json.error.message) || res.statusText); e.code = json.error && json.error.code; e.status = res.status; throw e; }
        return json;
      });
    });
  }

  function refreshSession() {
    var cred = load(CRED_KEY);
    return api('POST', '/plugin/front/api/session', cred ? { credential: cred } : {}).then(function (r) {
      token = r.token;
      me = r.me;
      if (r.credential_rejected) { store(CRED_KEY, null); }
    });
  }

  // ---- rendering helpers --------------------------------------------------------------------
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') { e.textContent = attrs[k]; } else if (k === 'onclick') { e.addEventListener('click', attrs[k]); } else { e.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); } });
    return e;
  }
  function badgeClass(s) {
    switch (s) {
      case 'pending': case 'written': case 'proposed': case 'open': return 'pending';
      case 'approved': case 'respond': case 'edited': return 'approved';
      case 'executed': case 'completed': case 'sent': return 'executed';
      case 'rejected': case 'silence': return 'rejected';
      case 'expired': return 'expired';
      case 'failed': case 'withheld': case 'escalate_urgent': return 'failed';
      default: return String(s || '').indexOf('escalate') === 0 ? 'escalate' : 'neutral';
    }
  }
  function badge(s, id) { var a = { 'class': 'badge badge-' + badgeClass(s), text: String(s || '').replace(/_/g, ' ') }; if (id) { a.id = id; } return el('span', a); }
  function when(ms) { try { return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'); } catch (e) { return String(ms); } }
  var lastFlash = null;
  function flash(kind, text) {
    lastFlash = { kind: kind, text: text };
    var f = document.getElementById('plugin-flash');
    if (f) { f.className = 'flash flash-' + kind; f.textContent = text; }
  }
  function show(nodes) {
    app.textContent = '';
    var f = el('div', { id: 'plugin-flash', 'class': 'hidden', role: 'status' });
    if (lastFlash) { f.className = 'flash flash-' + lastFlash.kind; f.textContent = lastFlash.text; }
    app.appendChild(f);
    nodes.forEach(function (n) { if (n) { app.appendChild(n); } });
  }
  function teammateId() { return context && context.teammate ? context.teammate.id : null; }

  // ---- views -------------------------------------------------------------------------------
  function render() {
    if (!context) { return; }
    var mine = ++renderSeq;
    var current = function () { return mine === renderSeq; };
    if (context.type === 'singleConversation' && context.conversation) {
      var id = context.conversation.id;
      api('GET', '/plugin/front/api/conversations/' + encodeURIComponent(id)).then(function (v) {
        if (current()) { showConversation(v); }
      }).catch(showError);
    } else if (context.type === 'multiConversations') {
      var ids = (context.conversations || []).map(function (c) { return c.id; }).slice(0, 20);
      api('GET', '/plugin/front/api/conversations?ids=' + encodeURIComponent(ids.join(','))).then(function (v) {
        if (current()) { showMany(v); }
      }).catch(showError);
    } else {
      api('GET', '/plugin/front/api/inbox').then(function (v) { if (current()) { showInbox(v); } }).catch(showError);
    }
  }

  function showError(e) { show([el('p', { 'class': 'flash flash-error', id: 'plugin-error', text: 'Could not load: ' + e.message })]); }

  function identity() {
    if (me.linked) {
      return el('p', { 'class': 'muted', id: 'plugin-identity', text: 'Acting as ' + me.email + ' (' + me.role + ')' });
    }
    return el('div', { 'class': 'row', id: 'plugin-identity' }, [
      el('span', { 'class': 'muted', text: 'Not linked: you can read and insert drafts; approving needs your account.' }),
      el('button', { 'class': 'secondary', id: 'link-account', type: 'button', text: 'Link your account', onclick: startLink })
    ]);
  }

  function approvalItem(a) {
    var act = a.action || {};
    var li = el('li', { 'class': 'approval', 'data-id': a.id }, [
      el('div', { 'class': 'row' }, [badge(a.status), el('strong', { text: act.kind || 'action' }), a.amount ? el('span', { 'class': 'amount', text: a.amount }) : null]),
      act.reasoning ? el('div', { 'class': 'muted', text: act.reasoning }) : null
    ]);
    if (me.can_decide && a.status === 'pending') {
      var reason = el('input', { type: 'text', 'class': 'reason', 'aria-label': 'Reason (required to reject)', placeholder: 'Reason (required to reject)' });
      var decide = function (verdict) {
        return function () {
          var body = { teammate_id: teammateId() };
          if (reason.value.trim()) { body.reason = reason.value.trim(); }
          if (verdict === 'edit') {
            var cents = parseInt(amount.value, 10);
            if (!(cents > 0)) { flash('error', 'Enter the new amount in cents to edit.'); return; }
            body.amount_cents = cents;
          }
          api('POST', '/plugin/front/api/approvals/' + encodeURIComponent(a.id) + '/' + verdict, body).then(function (r) {
            flash('success', 'Approval ' + r.decision + '.');
            render();
          }).catch(function (e) { flash('error', e.message); });
        };
      };
      var amount = el('input', { type: 'text', 'class': 'edit-amount', inputmode: 'numeric', 'aria-label': 'New amount in cents (to edit)', placeholder: 'New amount in cents (to edit)' });
      li.appendChild(reason);
      li.appendChild(amount);
      li.appendChild(el('div', { 'class': 'row' }, [
        el('button', { 'class': 'primary approve', type: 'button', text: 'Approve' + (a.amount ? ' ' + a.amount : ''), onclick: decide('approve') }),
        el('button', { 'class': 'danger reject', type: 'button', text: 'Reject', onclick: decide('reject') }),
        el('button', { 'class': 'secondary edit', type: 'button', text: 'Edit', onclick: decide('edit') })
      ]));
    }
    return li;
  }

  function showConversation(v) {
    if (!v.found) {
      show([identity(), el('p', { 'class': 'muted', id: 'no-data', text: 'Nothing from us on this conversation yet: it appears here once the agent has run.' })]);
      return;
    }
    var s = v.suggestion || {};
    var d = s.draft;
    var r = s.route;
    var parts = [identity(), el('h1', { id: 'conversation-subject', text: v.subject || v.id })];
    var sugg = el('section', { id: 'suggestion', 'class': 'panel' }, [el('h2', { text: 'Our suggestion' })]);
    if (d) {
      sugg.appendChild(el('div', { 'class': 'row' }, [badge(d.status, 'draft-status'), d.reason ? el('span', { 'class': 'muted', text: d.reason }) : null]));
      if (d.text) {
        sugg.appendChild(el('div', { 'class': 'draft-text', id: 'draft-text', text: d.text }));
        var insert = el('button', { 'class': 'primary', id: 'insert-draft', type: 'button', text: 'Insert draft' });
        insert.addEventListener('click', function () {
          insert.disabled = true;
          var draft = { content: { body: d.text, type: 'text' } };
          if (v.reply_to_message_id) { draft.replyOptions = { type: 'reply', originalMessageId: v.reply_to_message_id }; }
          call('createDraft', [draft]).then(function (res) {
            flash('success', 'Draft inserted.');
            return api('POST', '/plugin/front/api/conversations/' + encodeURIComponent(v.id) + '/inserted',
              { teammate_id: teammateId(), run_id: d.run_id, draft_id: res && res.id ? String(res.id) : null });
          }).catch(function (e) { flash('error', e.message); }).then(function () { insert.disabled = false; });
        });
        var note = el('input', { type: 'text', id: 'rate-note', 'aria-label': 'Note on the draft', placeholder: 'Note (optional)' });
        var rate = function (rating) {
          return function () {
            api('POST', '/plugin/front/api/conversations/' + encodeURIComponent(v.id) + '/rate',
              { rating: rating, note: note.value || null, teammate_id: teammateId(), run_id: d.run_id })
              .then(function () { flash('success', 'Thanks: rated ' + rating + '.'); note.value = ''; })
              .catch(function (e) { flash('error', e.message); });
          };
        };
        sugg.appendChild(el('div', { 'class': 'row' }, [insert,
          el('button', { 'class': 'secondary', id: 'rate-good', type: 'button', text: 'Good', onclick: rate('good') }),
          el('button', { 'class': 'secondary', id: 'rate-bad', type: 'button', text: 'Bad', onclick: rate('bad') })]));
        sugg.appendChild(note);
      }
      var ks = Array.isArray(d.knowledge_sources) ? d.knowledge_sources : [];
      if (ks.length) {
        sugg.appendChild(el('ul', { 'class': 'plain', id: 'knowledge' }, ks.map(function (k) {
          return el('li', { text: typeof k === 'string' ? k : (k.title || k.id || JSON.stringify(k)) });
        })));
      }
    } else {
      sugg.appendChild(el('p', { 'class': 'muted', text: 'No draft from us on this conversation.' }));
    }
    if (r) {
      var route = el('div', { id: 'route' }, [el('div', { 'class': 'row' }, [
        badge(r.action), el('span', { text: String(r.category || '') }),
        el('span', { 'class': 'muted', text: r.confidence !== null && r.confidence !== undefined ? 'confidence ' + Number(r.confidence).toFixed(2) : '' })])]);
      var reasons = Array.isArray(r.reasons) ? r.reasons : [];
      route.appendChild(el('ul', { 'class': 'reasons', id: 'route-reasons' }, reasons.map(function (x) { return el('li', { text: String(x) }); })));
      sugg.appendChild(route);
    }
    parts.push(sugg);
    if (me.can_decide) { parts.push(agentActions(v)); }
    var customerBox = el('section', { id: 'customer', 'class': 'panel' }, [el('h2', { text: 'Customer' }),
      el('p', { 'class': 'muted', text: 'Asking the app…' })]);
    parts.push(customerBox);
    var approvals = v.approvals || [];
    var ap = el('section', { id: 'approvals', 'class': 'panel' }, [el('h2', { text: 'Pending approvals' })]);
    if (approvals.length) { ap.appendChild(el('ul', { 'class': 'plain' }, approvals.map(approvalItem))); } else { ap.appendChild(el('p', { 'class': 'muted', text: 'None for this conversation.' })); }
    parts.push(ap);
    var done = v.executed || [];
    if (done.length) {
      parts.push(el('section', { id: 'executed', 'class': 'panel' }, [el('h2', { text: 'Executed' }),
        el('ul', { 'class': 'plain' }, done.map(function (a) {
          var res = a.result ? (a.result.refund_id || a.result.id || JSON.stringify(a.result)) : (a.error || '');
          return el('li', {}, [badge(a.status), ' ', el('strong', { text: a.kind }), ' ', el('span', { 'class': 'muted', text: String(res).slice(0, 160) })]);
        }))]));
    }
    var trail = (v.trail || []).map(function (t) {
      return el('li', {}, [el('code', { text: t.kind }), ' ', el('span', { 'class': 'muted', title: when(t.at), text: t.actor + ' · ' + when(t.at) })]);
    });
    (v.runs || []).forEach(function (run) {
      trail.push(el('li', {}, [el('code', { text: 'run ' + run.function_id }), ' ', badge(run.status), ' ', el('span', { 'class': 'muted', text: when(run.created_at) })]));
    });
    parts.push(el('section', { id: 'trail', 'class': 'panel' }, [el('h2', { text: 'Trail' }), el('ul', { 'class': 'plain' }, trail)]));
    show(parts);
    loadCustomer(v.id, customerBox);
  }

  // ---- the customer card (cached on the server per conversation) ------------------------------
  function convPath(id, rest) { return '/plugin/front/api/conversations/' + encodeURIComponent(id) + rest; }

  function loadCustomer(id, box) {
    var mine = renderSeq;
    api('GET', convPath(id, '/customer')).then(function (r) {
      if (mine === renderSeq) { fillCustomer(id, box, r); }
    }).catch(function (e) {
      if (mine !== renderSeq) { return; }
      box.textContent = '';
      box.appendChild(el('h2', { text: 'Customer' }));
      box.appendChild(el('p', { 'class': 'flash flash-error', id: 'customer-error', text: 'The app did not answer: ' + e.message }));
    });
  }

  function fillCustomer(id, box, r) {
    var c = r.card;
    box.textContent = '';
    box.appendChild(el('h2', { text: 'Customer' }));
    if (!r.found || !c) { box.appendChild(el('p', { 'class': 'muted', text: 'We do not know this conversation yet.' })); return; }
    if (!c.user) {
      box.appendChild(el('p', { 'class': 'muted', id: 'customer-none', text: (c.email || 'The sender') + ' has no account in ' + (c.app || 'any app') + '.' }));
      return;
    }
    var u = c.user;
    box.appendChild(el('dl', { 'class': 'card', id: 'customer-card' }, [
      el('dt', { text: 'Email' }), el('dd', { id: 'customer-email', text: u.email }),
      el('dt', { text: 'Name' }), el('dd', { text: u.name || '—' }),
      el('dt', { text: 'Customer since' }), el('dd', { text: String(u.createdAt || '').slice(0, 10) }),
      el('dt', { text: 'App' }), el('dd', { text: c.app || '' })]));
    var purchases = c.purchases || [];
    box.appendChild(el('ul', { 'class': 'plain', id: 'purchases' }, purchases.length ? purchases.map(function (p) {
      var li = el('li', { 'class': 'purchase', 'data-id': p.id }, [el('strong', { text: p.product_name }), ' ', badge(p.status), ' ',
        el('span', { 'class': 'muted', text: String(p.purchased_at || '').slice(0, 10) })]);
      if (p.charge_id) {
        var btn = el('button', { 'class': 'secondary show-charge', type: 'button', text: 'Stripe charge' });
        btn.addEventListener('click', function () {
          btn.disabled = true;
          api('GET', convPath(id, '/purchases/' + encodeURIComponent(p.id) + '/charge')).then(function (r2) {
            var ch = r2.charge;
            var text = ch.amount + (ch.refunded_cents > 0 ? ' · refunded ' + ch.refunded : '') + ' · ' + ch.status + (ch.disputed ? ' · disputed' : '') + ' · ' + ch.charge_id;
            btn.parentNode.replaceChild(el('span', { 'class': 'charge', text: text }), btn);
          }).catch(function (e) { btn.disabled = false; flash('error', e.message); });
        });
        li.appendChild(el('div', {}, [btn]));
      }
      return li;
    }) : [el('li', { 'class': 'muted', text: 'No purchases.' })]));
    if (c.subscriptions) {
      box.appendChild(el('ul', { 'class': 'plain', id: 'subscriptions' }, c.subscriptions.map(function (x) {
        return el('li', {}, [el('strong', { text: x.productName }), ' ', badge(x.status), ' ',
          el('span', { 'class': 'muted', text: (x.cancelAtPeriodEnd ? 'ends ' : 'renews ') + String(x.currentPeriodEnd || '').slice(0, 10) })]);
      })));
    }
    box.appendChild(el('p', { 'class': 'muted', id: 'customer-fetched', title: when(c.fetched_at),
      text: (c.cached ? 'From the cache, ' : 'Fresh from the app, ') + 'fetched ' + when(c.fetched_at) }));
  }

  // ---- agent actions (linked agents; the server checks the role) ------------------------------
  function agentActions(v) {
    var tag = el('select', { id: 'handover-tag', 'aria-label': 'Hand over as' }, ['needs-human', 'urgent', 'instructor'].map(function (t) {
      return el('option', { value: t, text: t });
    }));
    var assign = el('select', { id: 'handover-assign', 'aria-label': 'Assignee after hand-over' }, [
      el('option', { value: 'unassign', text: 'Unassign (back to the inbox)' }),
      el('option', { value: 'me', text: 'Assign to me' }),
      el('option', { value: 'keep', text: 'Keep the assignee' })]);
    var reason = el('input', { type: 'text', id: 'handover-reason', 'aria-label': 'Hand-over reason', placeholder: 'Reason (optional)' });
    var rerun = el('button', { 'class': 'secondary', id: 'rerun', type: 'button', text: 'Re-run the agent' });
    rerun.addEventListener('click', function () {
      rerun.disabled = true;
      api('POST', convPath(v.id, '/rerun'), { teammate_id: teammateId() }).then(function (r) {
        flash('success', 'The agent runs again (event ' + r.event_id + ').');
      }).catch(function (e) { flash('error', e.message); }).then(function () { rerun.disabled = false; });
    });
    var hand = el('button', { 'class': 'secondary', id: 'handover', type: 'button', text: 'Hand over to a human' });
    hand.addEventListener('click', function () {
      hand.disabled = true;
      api('POST', convPath(v.id, '/handover'), { teammate_id: teammateId(), tag: tag.value, reason: reason.value, assign: assign.value }).then(function (r) {
        flash('success', 'Handed over: tagged ' + r.tag + ' in Front.');
        render();
      }).catch(function (e) { hand.disabled = false; flash('error', e.message); });
    });
    return el('section', { id: 'agent-actions', 'class': 'panel' }, [el('h2', { text: 'Act' }),
      el('div', { 'class': 'row' }, [rerun, hand]), tag, assign, reason]);
  }

  function showMany(v) {
    var items = (v.items || []).map(function (c) {
      return el('li', { 'data-id': c.id }, [el('strong', { text: c.subject || c.id }), ' ',
        c.route_action ? badge(c.route_action) : el('span', { 'class': 'muted', text: 'not handled' }), ' ',
        c.draft_status ? badge(c.draft_status) : null,
        c.pending_approvals ? el('span', { 'class': 'badge badge-pending', text: c.pending_approvals + ' pending' }) : null]);
    });
    show([identity(), el('h1', { text: items.length + ' conversations selected' }), el('ul', { 'class': 'plain', id: 'multi-list' }, items)]);
  }

  function showInbox(v) {
    var items = v.approvals || [];
    show([identity(), el('h1', { text: 'Pending approvals' }),
      items.length ? el('ul', { 'class': 'plain', id: 'inbox' }, items.map(approvalItem)) : el('p', { 'class': 'muted', id: 'inbox', text: 'Nothing waits for a decision.' })]);
  }

  // ---- linking to a platform account --------------------------------------------------------
  function randomState() {
    var b = new Uint8Array(24);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
  }

  function startLink() {
    var tea = teammateId();
    if (!tea) { flash('error', 'Front did not say who you are.'); return; }
    var state = load(STATE_KEY) || randomState();
    store(STATE_KEY, state);
    var url = base + '/plugin/front/link?state=' + encodeURIComponent(state) + '&teammate=' + encodeURIComponent(tea);
    call('openUrl', [url]).catch(function (e) { flash('error', e.message); });
    pollLink();
  }

  function pollLink() {
    if (linkTimer) { return; }
    var started = Date.now();
    linkTimer = window.setInterval(function () {
      var state = load(STATE_KEY);
      if (!state || Date.now() - started > 10 * 60 * 1000) { window.clearInterval(linkTimer); linkTimer = null; return; }
      api('POST', '/plugin/front/api/link/redeem', { state: state }).then(function (r) {
        store(CRED_KEY, r.credential);
        store(STATE_KEY, null);
        window.clearInterval(linkTimer);
        linkTimer = null;
        return refreshSession().then(render);
      }).catch(function () { /* not confirmed yet */ });
    }, 1000);
  }

  // ---- start --------------------------------------------------------------------------------
  refreshSession().catch(function () { /* keep the page's own token */ }).then(function () {
    if (load(STATE_KEY)) { pollLink(); }
    window.setInterval(function () { refreshSession().catch(function () {}); }, 10 * 60 * 1000);
    connect();
  });
}());
