// The attach probes ask vmlinux BTF a fixed handful of questions (attach targets by name, one
// struct's size). Answered ahead, as a table, in the tables' one pass over vmlinux BTF: the attach
// section then neither parses vmlinux BTF a second time nor builds its name index
// (docs/probes.md#attach-section). A probe that asks anything else is a bug this module makes loud.
import { BtfKind, type Btf } from '../kernel/btf.ts';
import type { AttachBtf } from './context.ts';
import { HARMLESS_FUNC, ITER_TARGET, PROBE_TRACEPOINT, STRUCT_OPS_VALUE, TRAMPOLINE_FUNCS } from './targets.ts';

/** Every [kind, name] the attach probes look up in vmlinux BTF. */
export const ATTACH_BTF_QUERIES: readonly (readonly [kind: number, name: string])[] = [
  [BtfKind.FUNC, HARMLESS_FUNC],
  ...Object.values(TRAMPOLINE_FUNCS).flatMap((funcs) => funcs.map((f) => [BtfKind.FUNC, f] as const)),
  [BtfKind.TYPEDEF, `btf_trace_${PROBE_TRACEPOINT.name}`],
  [BtfKind.FUNC, ITER_TARGET],
  [BtfKind.STRUCT, STRUCT_OPS_VALUE],
];

/** The answers, as plain data (structured-clonable): ids (null: not in BTF) and the STRUCTs' sizes. */
export type AttachBtfAnswers = { ids: [kind: number, name: string, id: number | null][]; sizes: [id: number, size: number][] };

/**
 * Ask `btf` every question of ATTACH_BTF_QUERIES. A parsed Btf answers them in one pass over its
 * types (findIds), without the name index.
 */
export function askAttachBtf(btf: AttachBtf | Btf): AttachBtfAnswers {
  const found = 'findIds' in btf ? btf.findIds(ATTACH_BTF_QUERIES) : ATTACH_BTF_QUERIES.map(([kind, name]) => btf.findId(kind, name));
  const ids = ATTACH_BTF_QUERIES.map(([kind, name], i): [number, string, number | null] => [kind, name, found[i] ?? null]);
  const sizes = ids.flatMap(([kind, , id]): [number, number][] => (kind === BtfKind.STRUCT && id !== null ? [[id, btf.typeRef(id)]] : []));
  return { ids, sizes };
}

/** An AttachBtf that answers from the table; a question it was not asked ahead throws. */
export function answeredBtf(answers: AttachBtfAnswers): AttachBtf {
  const ids = new Map(answers.ids.map(([kind, name, id]) => [`${kind}:${name}`, id]));
  const sizes = new Map(answers.sizes);
  return {
    findId(kind, name) {
      const id = ids.get(`${kind}:${name}`);
      if (id === undefined) throw new Error(`attach: vmlinux BTF question not answered ahead: kind ${kind} ${name}`);
      return id ?? undefined;
    },
    typeRef(id) {
      const size = sizes.get(id);
      if (size === undefined) throw new Error(`attach: vmlinux BTF question not answered ahead: size of type ${id}`);
      return size;
    },
  };
}
