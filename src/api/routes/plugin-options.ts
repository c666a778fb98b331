import type { Store } from '../../store/types.js';
import type { ApiRuntime } from '../runtime.js';

/** What every resource plugin is registered with. */
export interface ResourcePluginOptions {
  store: Store;
  runtime: ApiRuntime;
}
