(function () {
  const data = JSON.parse(document.getElementById('data').textContent);
  const rows = Array.from(document.querySelectorAll('#grid tbody tr'));
  const boxes = Array.from(document.querySelectorAll('input[name=outcome]'));
  const search = document.getElementById('search');
  const onlyUnexpected = document.getElementById('unexpected');
  const onlyFlaky = document.getElementById('flaky');
  const count = document.getElementById('count');
  function wanted() { return new Set(boxes.filter(b => b.checked).map(b => b.value)); }
  function cellMatches(td, want) {
    if (!want.has(td.dataset.outcome)) return false;
    if (onlyUnexpected.checked && !td.classList.contains('unexpected')) return false;
    if (onlyFlaky.checked && !td.classList.contains('flaky')) return false;
    return true;
  }
  function apply() {
    const want = wanted();
    const q = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const tr of rows) {
      const id = tr.dataset.id.toLowerCase();
      const idOk = q.every(w => id.includes(w));
      let any = false;
      for (const td of tr.querySelectorAll('td.cell')) {
        const m = cellMatches(td, want);
        td.classList.toggle('dim', !m);
        any = any || m;
      }
      tr.hidden = !(idOk && any);
      if (!tr.hidden) shown++;
    }
    count.textContent = shown + ' of ' + rows.length + ' cases shown';
    const state = new URLSearchParams();
    if (q.length) state.set('q', search.value.trim());
    if (want.size < boxes.length) state.set('outcome', Array.from(want).join(','));
    if (onlyUnexpected.checked) state.set('unexpected', '1');
    if (onlyFlaky.checked) state.set('flaky', '1');
    const h = state.toString();
    if (('#' + h) !== location.hash && (h || location.hash)) {
      history.replaceState(null, '', h ? '#' + h : location.pathname + location.search);
    }
  }
  function fromHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    if (p.has('q')) search.value = p.get('q');
    if (p.has('outcome')) {
      const o = new Set(p.get('outcome').split(','));
      boxes.forEach(b => { b.checked = o.has(b.value); });
    }
    onlyUnexpected.checked = p.get('unexpected') === '1';
    onlyFlaky.checked = p.get('flaky') === '1';
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function fmt(v) { return v === undefined ? '' : (typeof v === 'string' ? v : JSON.stringify(v)); }
  function show(td) {
    document.querySelectorAll('.cell.sel').forEach(c => c.classList.remove('sel'));
    td.classList.add('sel');
    const c = data.cells[td.dataset.key];
    const col = data.columns[+td.dataset.key.split(':')[0]];
    const box = document.getElementById('detail');
    box.replaceChildren();
    if (!c) { box.append(el('p', 'Not run on this stack.')); return; }
    box.append(el('h2', c.id));
    const flaky = c.flaky ? ' (flaky: passed after a retry)' : '';
    box.append(el('p', col.label + ': ' + c.outcome + flaky
      + ' · attempts ' + fmt(c.attempts) + ' · ' + fmt(c.duration_s) + ' s'));
    if (c.reason) box.append(el('p', c.reason));
    if ((c.nearest || []).length) {
      box.append(el('p', 'Nearest working (one axis away, same stack): works with '
        + c.nearest.join(', '), 'near'));
    }
    (c.ipam_substituted || []).forEach(s => box.append(el('p', 'ipam substituted: '
      + s.network + ' ' + s.field + ' ' + s.replaced.type + ' -> static ' + s.address
      + ' (' + s.address_from + '), because ' + s.why, 'subst')));
    if ((c.not_judged || []).length) {
      const ul = el('ul');
      c.not_judged.forEach(n => ul.append(el('li', n.network + ': ' + n.what)));
      box.append(el('div', 'Not judged (only the real IPAM decides it):'), ul);
    }
    if (c.expected) {
      box.append(el('p', 'Expected (' + (c.expected.source || 'model') + '): ' + c.expected.outcome
        + (c.as_expected === false ? '  ≠ NOT as expected' : '  = as expected'),
        c.as_expected === false ? 'bad' : 'ok'));
      (c.differences || []).forEach(d => box.append(el('div', '≠ ' + d, 'bad')));
      if ((c.expected.why || []).length) {
        const ul = el('ul');
        c.expected.why.forEach(w => ul.append(el('li', w)));
        box.append(el('div', 'Why:'), ul);
      }
    }
    const checks = c.checks || {};
    const names = Object.keys(checks);
    if (names.length) {
      const t = el('table'); t.className = 'checks';
      const h = el('tr');
      ['check', 'ok', 'expected', 'observed', 'model'].forEach(x => h.append(el('th', x)));
      t.append(h);
      for (const n of names) {
        const k = checks[n]; const tr = el('tr'); tr.dataset.check = n;
        tr.append(el('td', n.replace(/_/g, '_\u200b')));  // let long names wrap at '_'
        tr.append(el('td', k.ok ? '✓ ok' : '✗ fail', k.ok ? 'ok' : 'bad'));
        tr.append(el('td', fmt(k.expected)), el('td', fmt(k.observed)));
        const m = c.expected && c.expected.checks ? c.expected.checks[n] : undefined;
        tr.append(el('td', m === undefined ? '' : (m ? 'pass' : 'fail')));
        t.append(tr);
      }
      box.append(t);
    } else {
      box.append(el('p', 'No checks ran for this case.'));
    }
    if (c.requested) box.append(el('p', 'Requested: ' + fmt(c.requested)));
    (c.pods || []).forEach(p => box.append(el('p', 'Pod ' + p.name + ': ' + fmt(p.interfaces)
      + (p.error ? ' — error: ' + p.error : ''))));
    if (c.diagnostics) box.append(el('p', 'Diagnostics: ' + c.diagnostics));
  }
  document.getElementById('grid').addEventListener('click', e => {
    const td = e.target.closest('td.cell'); if (td && td.dataset.key) show(td);
  });
  document.getElementById('grid').addEventListener('keydown', e => {
    const td = e.target.closest('td.cell');
    if (td && td.dataset.key && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      show(td);
    }
  });
  boxes.concat([onlyUnexpected, onlyFlaky]).forEach(b => b.addEventListener('change', apply));
  search.addEventListener('input', apply);
  window.addEventListener('hashchange', () => { fromHash(); apply(); });
  fromHash();
  apply();
})();
