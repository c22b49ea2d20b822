// Test helper: a small parser of the Prometheus text exposition format (0.0.4).
export interface Sample { name: string; labels: Record<string, string>; value: number }
export interface Exposition { types: Map<string, string>; helps: Map<string, string>; samples: Sample[] }

function parseValue(v: string): number {
  // Prometheus parses floats case-insensitively; prom-client writes NaN as "Nan".
  if (/^nan$/i.test(v)) return NaN;
  if (/^\+?inf$/i.test(v)) return Infinity;
  if (/^-inf$/i.test(v)) return -Infinity;
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`bad sample value ${v}`);
  return n;
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) { types.set(m[1]!, m[2]!); continue; }
    m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) { helps.set(m[1]!, m[2]!); continue; }
    if (line.startsWith('#')) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( \d+)?$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
      for (let l = re.exec(m[3]); l; l = re.exec(m[3])) labels[l[1]!] = l[2]!.replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    }
    samples.push({ name: m[1]!, labels, value: parseValue(m[4]!) });
  }
  return { types, helps, samples };
}

/** Samples of `name` whose labels include `labels`. */
export function find(e: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The single sample of `name` with `labels` (throws unless exactly one). */
export function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const f = find(e, name, labels);
  if (f.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${f.length}`);
  return f[0]!.value;
}
