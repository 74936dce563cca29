// The share page of a demonstration: shows the live browser, hands the person's mouse,
// wheel and keyboard to it, lists what happens, and finishes. Everything comes over one
// WebSocket to this server (the token in the page's URL names the session); the page
// keeps no state of its own beyond what it shows.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const screen = $('screen'), keys = $('keys'), list = $('event-list');
  const context = screen.getContext('2d');
  const token = new URLSearchParams(location.search).get('token') || '';
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/demonstrate/live?token=${encodeURIComponent(token)}`);
  socket.binaryType = 'blob';

  let mode = 'watch', userName = null, startedAt = null, viewport = { width: 1280, height: 720 };
  let recording = false, finished = false;
  // What the page shows, readable from outside (tests, the browser's console).
  const shownState = { state: 'starting', framesShown: 0 };
  window.demonstration = {
    get mode() { return mode; }, get viewport() { return { ...viewport }; }, get room() { return room(); },
    get frameSize() { return { width: screen.width, height: screen.height }; },
    get state() { return shownState.state; }, get framesShown() { return shownState.framesShown; },
  };

  const send = (message) => { if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message)); };
  const overlay = (title, text, busy) => {
    $('overlay').hidden = !title;
    if (!title) return;
    $('overlay-title').textContent = title;
    $('overlay-text').textContent = text || '';
    $('spinner').hidden = !busy;
  };
  const setStatus = (state, text) => { $('status').dataset.state = state; $('status-text').textContent = text; };

  // The room the window gives the browser, in CSS px. The person's page asks the
  // server for a viewport of that size (within the server's bounds), so the page they
  // drive lays itself out for their window; the canvas keeps the page's proportions
  // inside the room whatever size comes back.
  const room = () => {
    const box = $('browser').getBoundingClientRect();
    return { width: Math.max(1, Math.floor(box.width - 32)), height: Math.max(1, Math.floor(box.height - 32)) };
  };
  const fit = () => {
    const space = room();
    const scale = Math.min(space.width / screen.width, space.height / screen.height);
    screen.style.width = `${Math.max(1, Math.floor(screen.width * scale))}px`;
    screen.style.height = `${Math.max(1, Math.floor(screen.height * scale))}px`;
  };
  const askForRoom = () => { if (mode === 'drive' && recording) send({ type: 'viewport', ...room() }); };
  let resizing = null;
  addEventListener('resize', () => {
    fit();
    clearTimeout(resizing);
    resizing = setTimeout(askForRoom, 250);
  });

  // Frames: the newest wins; a frame decoded after a newer one is dropped.
  let shown = 0, arrived = 0;
  const draw = async (blob) => {
    const number = ++arrived;
    const bitmap = await createImageBitmap(blob);
    if (number < shown) { bitmap.close(); return; }
    shown = number;
    if (screen.width !== bitmap.width || screen.height !== bitmap.height) {
      screen.width = bitmap.width; screen.height = bitmap.height; fit();
    }
    context.drawImage(bitmap, 0, 0);
    shownState.framesShown++;
    bitmap.close();
  };

  const clock = (ms) => { const s = Math.max(0, Math.floor(ms / 1000)); return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`; };
  setInterval(() => { if (startedAt && recording) $('elapsed').textContent = clock(Date.now() - startedAt); }, 500);

  const KINDS = { click: 'Click', type: 'Typing', scroll: 'Scroll', navigation: 'Page' };
  const addItem = (item) => {
    $('hint').hidden = true;
    const li = document.createElement('li');
    const kind = document.createElement('span'); kind.className = 'kind'; kind.dataset.kind = item.kind; kind.textContent = KINDS[item.kind] || item.kind;
    const what = document.createElement('span'); what.className = 'what'; what.textContent = item.text;
    const when = document.createElement('span'); when.className = 'when'; when.textContent = clock(item.t_ms);
    li.append(kind, what, when);
    list.append(li);
    list.scrollTop = list.scrollHeight;
  };

  const showState = (state) => {
    recording = state.state === 'recording';
    shownState.state = state.state;
    $('finish').disabled = !(recording && mode === 'drive');
    switch (state.state) {
      case 'starting': setStatus('starting', 'Starting'); overlay('Starting the browser…', 'This takes a few seconds.', true); break;
      case 'recording': setStatus('recording', mode === 'drive' ? 'Recording' : 'Live'); overlay(null); if (mode === 'drive') screen.focus(); askForRoom(); break;
      case 'processing': setStatus('processing', 'Processing'); overlay('Making your workflow…', 'The browser has closed. This takes a moment.', true); break;
      case 'completed': {
        finished = true;
        setStatus('completed', 'Done');
        overlay(userName ? `Thanks, ${userName}!` : 'Thanks!', 'Your demonstration was recorded. You can close this window.', false);
        if (window.opener && mode === 'drive') {
          window.opener.postMessage({ type: 'demonstration-complete', session_id: sessionId, task_id: state.task_id, task_version_id: state.task_version_id, tool_id: state.tool_id }, '*');
        }
        break;
      }
      case 'stopped': finished = true; setStatus('stopped', 'Stopped'); overlay('This session has ended', state.reason || state.error || 'It was stopped before it was finished.', false); break;
      default: finished = true; setStatus('failed', 'Failed'); overlay('Something went wrong', state.error || 'The session could not continue.', false);
    }
  };

  let sessionId = null;
  socket.addEventListener('message', (event) => {
    if (typeof event.data !== 'string') { draw(event.data); return; }
    const message = JSON.parse(event.data);
    switch (message.type) {
      case 'hello':
        mode = message.mode; sessionId = message.session_id; userName = message.user_name || null;
        startedAt = message.started_at_ms || null;
        if (message.viewport) viewport = message.viewport;
        if (message.task_name) { $('task-name').textContent = message.task_name; document.title = `${message.task_name} · demoreel`; }
        $('finish').hidden = mode !== 'drive';
        if (mode !== 'drive') $('hint').textContent = 'You are watching. What the person does appears here.';
        break;
      case 'started': startedAt = message.started_at_ms || Date.now(); break;
      case 'state': showState(message.state); break;
      case 'panel': message.items.forEach(addItem); break;
      case 'event': addItem(message.item); break;
      case 'viewport': viewport = { width: message.width, height: message.height }; break;
      case 'cursor': screen.style.cursor = ['pointer', 'text'].includes(message.shape) ? message.shape : 'default'; break;
    }
  });
  socket.addEventListener('close', () => { if (!finished) { setStatus('failed', 'Disconnected'); overlay('The connection was lost', 'Reload the page to reconnect while the link is valid.', false); } });

  $('finish').addEventListener('click', () => { $('finish').disabled = true; send({ type: 'finish' }); });

  // Input, only for the person's link and only while recording.
  const driving = () => mode === 'drive' && recording;
  const modifiers = (e) => [e.ctrlKey && 'ctrl', e.altKey && 'alt', e.shiftKey && 'shift', e.metaKey && 'meta'].filter(Boolean);
  const at = (e) => {
    const r = screen.getBoundingClientRect();
    return {
      x: Math.min(viewport.width, Math.max(0, (e.clientX - r.left) / r.width * viewport.width)),
      y: Math.min(viewport.height, Math.max(0, (e.clientY - r.top) / r.height * viewport.height)),
    };
  };
  const BUTTONS = ['left', 'middle', 'right'];
  screen.addEventListener('mousedown', (e) => {
    if (!driving()) return;
    e.preventDefault(); keys.focus({ preventScroll: true });
    send({ type: 'pointer', action: 'down', ...at(e), button: BUTTONS[e.button] || 'left', clicks: e.detail || 1, modifiers: modifiers(e) });
  });
  addEventListener('mouseup', (e) => {
    if (!driving() || e.target !== screen) return;
    send({ type: 'pointer', action: 'up', ...at(e), button: BUTTONS[e.button] || 'left', clicks: e.detail || 1, modifiers: modifiers(e) });
  });
  let pendingMove = null;
  screen.addEventListener('mousemove', (e) => {
    if (!driving()) return;
    const first = pendingMove === null;
    pendingMove = { type: 'pointer', action: 'move', ...at(e), modifiers: modifiers(e) };
    if (first) requestAnimationFrame(() => { send(pendingMove); pendingMove = null; });
  });
  screen.addEventListener('wheel', (e) => {
    if (!driving()) return;
    e.preventDefault();
    const unit = e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? viewport.height : 1;
    send({ type: 'wheel', ...at(e), dx: e.deltaX * unit, dy: e.deltaY * unit });
  }, { passive: false });
  screen.addEventListener('contextmenu', (e) => e.preventDefault());
  screen.addEventListener('focus', () => keys.focus({ preventScroll: true }));

  // Keys go through a hidden text box, so that input methods and paste work as usual.
  const keyMessage = (e, action) => {
    const commanding = e.ctrlKey || e.metaKey || e.altKey;
    const text = e.key.length === 1 && !commanding ? e.key : e.key === 'Enter' ? '\r' : null;
    return { type: 'key', action, key: e.key, code: e.code, key_code: e.keyCode || 0, text, modifiers: modifiers(e) };
  };
  keys.addEventListener('keydown', (e) => {
    if (!driving() || e.isComposing || e.keyCode === 229) return;
    // Paste arrives as a paste event with its text.
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'v') return;
    e.preventDefault();
    send(keyMessage(e, 'down'));
  });
  keys.addEventListener('keyup', (e) => {
    if (!driving() || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    send(keyMessage(e, 'up'));
  });
  keys.addEventListener('compositionend', (e) => { if (driving() && e.data) send({ type: 'text', text: e.data }); keys.value = ''; });
  keys.addEventListener('paste', (e) => {
    e.preventDefault();
    const text = (e.clipboardData && e.clipboardData.getData('text/plain')) || '';
    if (driving() && text) send({ type: 'text', text: text.slice(0, 10000) });
  });
  // Nothing stays in the box: what it received was sent already.
  keys.addEventListener('input', (e) => { if (!e.isComposing) keys.value = ''; });
  fit();
})();
