/** The manifest concern: load, validate, edit and create tenant manifests. */

export * from '../core/config.js';
export { addTenant, type NewTenant, removeTenant } from './edit.js';
export { loadManifest, parseManifest } from './load.js';
export { renderInitialManifest, writeInitialManifest } from './template.js';
