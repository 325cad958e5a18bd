// Reading a synthesised template the way CloudFormation would, for assertions.
import type { CfnResource, CfnValue, Template } from "../../../cloudformation/cfn.ts";

export const ofType = (t: Template, type: string): [string, CfnResource][] =>
  Object.entries(t.Resources).filter(([, r]) => r.Type === type);

export const props = (t: Template, id: string): Record<string, CfnValue> => {
  const r = t.Resources[id];
  if (!r) throw new Error(`no resource ${id}`);
  return (r.Properties ?? {}) as Record<string, CfnValue>;
};

/** Resolve a Fn::Sub string with parameter values, undoing `${!` escapes. */
export function resolveSub(text: string, values: Record<string, string>): string {
  return text
    .replace(/\$\{(?!!)([A-Za-z0-9:.]+)\}/g, (_m, name: string) => {
      if (!(name in values)) throw new Error(`unresolved ${name}`);
      return values[name]!;
    })
    .replaceAll("${!", "${");
}

/** Every IAM statement of every role in the template, with the role's id. */
export function roleStatements(t: Template): { role: string; statement: Record<string, CfnValue> }[] {
  const out: { role: string; statement: Record<string, CfnValue> }[] = [];
  for (const [id, r] of ofType(t, "AWS::IAM::Role")) {
    for (const policy of (r.Properties?.Policies ?? []) as { PolicyDocument: { Statement: CfnValue[] } }[]) {
      for (const s of policy.PolicyDocument.Statement) {
        // Conditional statements: Fn::If [cond, statement, NoValue]
        const st = (s as Record<string, CfnValue>)["Fn::If"]
          ? ((s as { "Fn::If": CfnValue[] })["Fn::If"][1] as Record<string, CfnValue>)
          : (s as Record<string, CfnValue>);
        out.push({ role: id, statement: st });
      }
    }
  }
  return out;
}

export const actionsOf = (t: Template, role: string): Set<string> =>
  new Set(
    roleStatements(t)
      .filter((s) => s.role === role)
      .flatMap((s) => s.statement.Action as string[]),
  );
