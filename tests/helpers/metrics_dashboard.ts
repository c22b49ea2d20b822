/**
 * Reading the Grafana dashboard (monitoring/grafana/dashboards/*.json): every PromQL
 * expression it runs, the metric names each uses, and the expression Prometheus itself
 * would run once Grafana's variables are filled in. Used by the monitoring tests.
 */

export interface DashboardExpression {
  /** Where it is: "panel <title> / <refId>" or "variable <name>". */
  where: string;
  expr: string;
  /** A Grafana label_values(...) variable query: not PromQL; its metric is checked alone. */
  isVariableQuery: boolean;
}

interface PanelLike {
  title?: string;
  targets?: Array<{ expr?: string; refId?: string }>;
  panels?: PanelLike[];
}

/** Every PromQL expression of a dashboard: panel targets (rows included) and variable queries. */
export function dashboardExpressions(dashboard: unknown): DashboardExpression[] {
  const out: DashboardExpression[] = [];
  const d = dashboard as { panels?: PanelLike[]; templating?: { list?: Array<{ name?: string; type?: string; query?: unknown; definition?: string }> } };
  const visit = (panels: PanelLike[] | undefined): void => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) {
        if (typeof t.expr === 'string' && t.expr.trim() !== '') out.push({ where: `panel "${p.title ?? '?'}" / ${t.refId ?? '?'}`, expr: t.expr, isVariableQuery: false });
      }
      visit(p.panels);
    }
  };
  visit(d.panels);
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query ?? v.definition;
    if (typeof q === 'string' && q.trim() !== '') out.push({ where: `variable ${v.name ?? '?'}`, expr: q, isVariableQuery: true });
  }
  return out;
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2']);

/**
 * Metric names a PromQL expression reads (sorted, unique). Strings, label matchers,
 * range/subquery brackets, grouping clauses, function names, keywords, numbers and
 * Grafana variables are skipped; `label_values(metric, label)` yields `metric`.
 */
export function promqlMetricNames(expr: string): string[] {
  let s = expr;
  const lv = /^\s*label_values\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*,/.exec(s);
  if (lv) return [lv[1]!];
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');       // strings
  s = s.replace(/\{[^}]*\}/g, ' ');                                            // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' ');                                           // ranges, subqueries
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  s = s.replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?/g, ' ');             // Grafana variables
  s = s.replace(/\b\d[\d.]*(e[+-]?\d+)?[a-z]*\b/gi, ' ');                       // numbers, durations
  const names = new Set<string>();
  const re = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const word = m[0];
    const after = s.slice(m.index + word.length).trimStart();
    if (after.startsWith('(')) continue;                                       // a function
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names].sort();
}

/** Grafana's built-in and dashboard variables replaced by values Prometheus accepts. */
export function substituteGrafanaVariables(expr: string, values: Record<string, string> = {}): string {
  const v: Record<string, string> = {
    __rate_interval: '5m',
    __interval: '15s',
    __range: '1h',
    instance: '.+',
    ...values,
  };
  return expr.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    const value = v[name];
    if (value === undefined) throw new Error(`no value for Grafana variable $${name} in: ${expr}`);
    return value;
  });
}
