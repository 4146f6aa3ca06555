/**
 * Reading Prometheus text exposition with an independent parser (prom2javascript, not
 * prom-client), plus lookups by metric name and labels for the tests.
 */
import { getMetricsFromIterator, type PromData, type PromHistogramData, type PromMetrics } from 'prom2javascript';

export type { PromMetrics };

const nanLines = new WeakMap<PromMetrics, string[]>();

/** A sample line whose value is NaN. */
const NAN_SAMPLE = /^[a-zA-Z_:][\w:]*(\{.*\})?\s+nan(\s+-?\d+)?\s*$/i;

/**
 * Parses exposition text (format 0.0.4). prom2javascript 0.2 does not read NaN values, which the
 * format allows (prom-client writes `Nan`, e.g. the event-loop lag of a process scraped twice
 * within its 10 ms sampling; Prometheus reads it with Go's case-insensitive ParseFloat): those
 * sample lines are set aside, unparsed, in `nan`.
 */
export async function parseProm(text: string): Promise<PromMetrics> {
  const lines = text.split('\n');
  const parsed = await getMetricsFromIterator(lines.filter((l) => !NAN_SAMPLE.test(l))[Symbol.iterator]());
  nanLines.set(parsed, lines.filter((l) => NAN_SAMPLE.test(l)));
  return parsed;
}

/** The NaN sample lines {@link parseProm} set aside for `m`. */
export function nanSamples(m: PromMetrics): string[] {
  return nanLines.get(m) ?? [];
}

const matches = (labels: Record<string, string>, want: Record<string, string>) => Object.entries(want).every(([k, v]) => labels[k] === v);

/** The family `name` with its type; throws naming it when absent. */
export function family(m: PromMetrics, name: string, type?: string) {
  const f = m[name];
  if (!f) throw new Error(`metric ${name} is not exposed (have: ${Object.keys(m).filter((k) => k.startsWith('aicd_')).join(', ')})`);
  if (type && f.type !== type) throw new Error(`metric ${name} is a ${f.type}, expected ${type}`);
  return f;
}

/** Sum of the counter/gauge samples of `name` whose labels include `labels`; 0 when none. */
export function sampleValue(m: PromMetrics, name: string, labels: Record<string, string> = {}): number {
  const f = m[name];
  if (!f) return 0;
  return (f.data as PromData[]).filter((d) => matches(d.labels, labels)).reduce((a, d) => a + Number(d.value), 0);
}

/** Sum of the `_count` of the histogram `name`'s series whose labels include `labels`; 0 when none. */
export function histogramCount(m: PromMetrics, name: string, labels: Record<string, string> = {}): number {
  const f = m[name];
  if (!f) return 0;
  return (f.data as PromHistogramData[]).filter((d) => matches(d.labels, labels)).reduce((a, d) => a + Number(d.count), 0);
}

/** Every label set of `name`'s samples. */
export function labelSets(m: PromMetrics, name: string): Record<string, string>[] {
  return (m[name]?.data ?? []).map((d) => d.labels);
}
