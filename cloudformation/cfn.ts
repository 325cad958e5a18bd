// Typed CloudFormation building blocks: template shapes, intrinsic functions and a builder that
// refuses duplicate logical ids, so every part composes into one checked template.

/** A value a CloudFormation property can hold: literals, lists, maps and intrinsic functions. */
export type CfnValue = string | number | boolean | CfnValue[] | { [key: string]: CfnValue };

export interface CfnParameter {
  Type: string;
  Description: string;
  Default?: string | number;
  AllowedValues?: (string | number)[];
  AllowedPattern?: string;
  ConstraintDescription?: string;
  MinValue?: number;
  MaxValue?: number;
  MinLength?: number;
  MaxLength?: number;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, CfnValue>;
  Condition?: string;
  DependsOn?: string | string[];
  DeletionPolicy?: "Delete" | "Retain" | "Snapshot" | "RetainExceptOnCreate";
  UpdateReplacePolicy?: "Delete" | "Retain" | "Snapshot";
  UpdatePolicy?: Record<string, CfnValue>;
  Metadata?: Record<string, CfnValue>;
}

export interface CfnOutput {
  Description: string;
  Value: CfnValue;
  Condition?: string;
}

export interface Template {
  AWSTemplateFormatVersion: "2010-09-09";
  Description: string;
  Metadata?: Record<string, CfnValue>;
  Parameters: Record<string, CfnParameter>;
  Mappings: Record<string, Record<string, Record<string, CfnValue>>>;
  Conditions: Record<string, CfnValue>;
  Resources: Record<string, CfnResource>;
  Outputs: Record<string, CfnOutput>;
}

// Intrinsic functions. Each returns a plain object, so the result is JSON as CloudFormation reads it.
export const ref = (logicalId: string): CfnValue => ({ Ref: logicalId });
export const getAtt = (logicalId: string, attribute: string): CfnValue => ({
  "Fn::GetAtt": [logicalId, attribute],
});
export const sub = (text: string, vars?: Record<string, CfnValue>): CfnValue =>
  vars ? { "Fn::Sub": [text, vars] } : { "Fn::Sub": text };
export const join = (sep: string, parts: CfnValue[]): CfnValue => ({ "Fn::Join": [sep, parts] });
export const select = (index: number, list: CfnValue): CfnValue => ({ "Fn::Select": [String(index), list] });
export const getAZs = (): CfnValue => ({ "Fn::GetAZs": "" });
export const base64 = (v: CfnValue): CfnValue => ({ "Fn::Base64": v });
export const ifCond = (condition: string, whenTrue: CfnValue, whenFalse: CfnValue): CfnValue => ({
  "Fn::If": [condition, whenTrue, whenFalse],
});
export const equals = (a: CfnValue, b: CfnValue): CfnValue => ({ "Fn::Equals": [a, b] });
export const not = (c: CfnValue): CfnValue => ({ "Fn::Not": [c] });
export const and = (...cs: CfnValue[]): CfnValue => ({ "Fn::And": cs });
export const condition = (name: string): CfnValue => ({ Condition: name });
export const noValue: CfnValue = { Ref: "AWS::NoValue" };

/** An ARN in this stack's partition, region and account: `arn(service, "resource")`. */
export const arn = (
  service: string,
  resource: string,
  scope: { region?: boolean; account?: boolean } = {},
): CfnValue =>
  sub(
    `arn:\${AWS::Partition}:${service}:${scope.region === false ? "" : "${AWS::Region}"}:${
      scope.account === false ? "" : "${AWS::AccountId}"
    }:${resource}`,
  );

export const tags = (entries: Record<string, CfnValue>): CfnValue[] =>
  Object.entries(entries).map(([Key, Value]) => ({ Key, Value }));

/** Collects one template; adding a logical id twice is a programming error, not a merge. */
export class TemplateBuilder {
  readonly template: Template;

  constructor(description: string) {
    this.template = {
      AWSTemplateFormatVersion: "2010-09-09",
      Description: description,
      Parameters: {},
      Mappings: {},
      Conditions: {},
      Resources: {},
      Outputs: {},
    };
  }

  private put<T>(section: Record<string, T>, kind: string, id: string, value: T): string {
    if (!/^[A-Za-z0-9]+$/.test(id)) throw new Error(`${kind} logical id ${id} is not alphanumeric`);
    if (id in section) throw new Error(`${kind} ${id} is defined twice`);
    section[id] = value;
    return id;
  }

  parameter(id: string, p: CfnParameter): string {
    return this.put(this.template.Parameters, "parameter", id, p);
  }
  mapping(id: string, m: Record<string, Record<string, CfnValue>>): string {
    return this.put(this.template.Mappings, "mapping", id, m);
  }
  condition(id: string, c: CfnValue): string {
    return this.put(this.template.Conditions, "condition", id, c);
  }
  resource(id: string, r: CfnResource): string {
    return this.put(this.template.Resources, "resource", id, r);
  }
  output(id: string, o: CfnOutput): string {
    return this.put(this.template.Outputs, "output", id, o);
  }
}
