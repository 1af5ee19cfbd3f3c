// Patch semantics of the API-server double: RFC 7386 JSON merge patch, and strategic merge patch for
// the Node fields bpfready touches. Merge keys are those of k8s.io/api core/v1 types.go
// (`patchStrategy:"merge" patchMergeKey:...` tags); a list without one is replaced whole, which is
// what happens to NodeSpec.Taints (tagged only `json:"taints,omitempty" protobuf:...`).

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386: objects merge recursively, null deletes, anything else (arrays included) replaces. */
export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = jsonMergePatch(out[k], v);
  }
  return out;
}

/** Field path (dot-joined, list indices dropped) → the merge key of that list. */
export const NODE_MERGE_KEYS: Readonly<Record<string, string>> = {
  'status.conditions': 'type',
  'status.addresses': 'type',
  'metadata.ownerReferences': 'uid',
};

export class PatchError extends Error {}

/**
 * Strategic merge patch, the subset real clients send to Node: maps merge (null deletes), lists with a
 * merge key merge element-wise by that key (`$patch: delete` on an element removes it), other lists
 * are replaced. `$setElementOrder/*` and `$retainKeys` directives are accepted and ignored (order and
 * retained keys are not modelled). `$patch: replace` on a map replaces it.
 */
export function strategicMergePatch(target: unknown, patch: unknown, mergeKeys = NODE_MERGE_KEYS, path = ''): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  if (patch['$patch'] === 'replace') {
    const { $patch: _, ...rest } = patch;
    return structuredClone(rest);
  }
  if (patch['$patch'] === 'delete') return undefined;
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/') || k === '$retainKeys' || k === '$patch') continue;
    if (k.startsWith('$')) throw new PatchError(`unknown patch directive ${k}`);
    const p = path ? `${path}.${k}` : k;
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v)) {
      const key = mergeKeys[p];
      out[k] = key ? mergeList(Array.isArray(out[k]) ? (out[k] as unknown[]) : [], v, key, mergeKeys, p) : structuredClone(v);
    } else if (isObj(v)) {
      const merged = strategicMergePatch(out[k], v, mergeKeys, p);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else {
      out[k] = v;
    }
  }
  return out;
}

function mergeList(
  current: unknown[],
  patch: unknown[],
  key: string,
  mergeKeys: Readonly<Record<string, string>>,
  path: string,
): unknown[] {
  const out = current.map((e) => structuredClone(e));
  for (const el of patch) {
    if (!isObj(el) || !(key in el)) throw new PatchError(`${path}: element without merge key "${key}"`);
    const idx = out.findIndex((e) => isObj(e) && e[key] === el[key]);
    if (el['$patch'] === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMergePatch(out[idx], el, mergeKeys, path);
    else out.push(strategicMergePatch({}, el, mergeKeys, path));
  }
  return out;
}
