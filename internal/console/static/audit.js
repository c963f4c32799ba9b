// Audit: placeholder until the read endpoint exists.
import { h } from './ui.js';

export async function render(main) {
  main.append(h('h1', {}, 'Audit'), h('p', {}, 'Use bulwark audit verify.'));
}
