// Mesh: placeholder.
import { h } from './ui.js';

export async function render(main) {
  main.append(h('h1', {}, 'Mesh'), h('p', {}, 'Use aws appmesh list-meshes.'));
}
