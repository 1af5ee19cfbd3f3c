// Seeding the API-server double with published reports the way the daemon's ReportWriter lays them
// out (src/publish/reports.ts), for tests that read them: the objects of a saved report, and a plain
// create-or-replace of each.
import type { ProbeReport } from '../../src/contract/report.ts';
import { KubeApiError, type ConfigMapApi } from '../../src/publish/client.ts';
import { kernelViewObjects, nodeReportObject, type ConfigMapObject } from '../../src/publish/reports.ts';

/** A report's objects: the node's, and its kernel view's (parts, then index) when it has one. */
export function reportObjects(
  report: ProbeReport,
  node: { name: string; uid: string },
): { node: ConfigMapObject; kernel: ConfigMapObject[] } {
  return { node: nodeReportObject(report, node), kernel: report.kernelView ? kernelViewObjects(report.kernelView) : [] };
}

/** Creates or replaces each object in `api`'s namespace. */
export async function publishReports(api: ConfigMapApi, objs: readonly ConfigMapObject[]): Promise<void> {
  for (const o of objs) {
    const body = { ...o, metadata: { ...o.metadata, namespace: api.namespace } };
    try {
      await api.create(body);
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 409)) throw e;
      await api.replace(o.metadata.name, body);
    }
  }
}
