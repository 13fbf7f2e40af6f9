// The dashboard's hydration loader (served as /pkg/boot.js only when the hydrate bundle was
// built; see docs/dashboard.md). What Leptos' inline island script does, as a file, so the
// Content-Security-Policy needs no inline script: load the islands' wasm module, start its
// runtime, then hydrate each <leptos-island> of the server-rendered page.
import init, * as islands from './support_web_islands.js';

let childrenCallbacks = [];

async function hydrateIsland(el, id) {
  const islandFn = islands[id];
  if (!islandFn) {
    console.warn(`no wasm function for the island ${id}`);
    return;
  }
  const childrenCb = childrenCallbacks[childrenCallbacks.length - 1];
  if (childrenCb) {
    childrenCb();
  }
  const res = islandFn(el);
  if (res && res.then) {
    await res;
  }
}

async function traverse(node) {
  if (node.nodeType !== Node.ELEMENT_NODE) {
    return;
  }
  const tag = node.tagName.toLowerCase();
  if (tag === 'leptos-island') {
    await hydrateIsland(node, node.dataset.component || null);
    for (const child of node.children) {
      await traverse(child);
    }
  } else if (tag === 'leptos-children') {
    childrenCallbacks.push(node.$$on_hydrate);
    for (const child of node.children) {
      await traverse(child);
    }
    childrenCallbacks.pop();
  } else {
    for (const child of node.children) {
      await traverse(child);
    }
  }
}

await init({ module_or_path: '/pkg/support_web_islands_bg.wasm' });
islands.hydrate();
await traverse(document.body);
document.documentElement.dataset.hydrated = 'true';
