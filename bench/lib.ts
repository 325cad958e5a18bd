// What the bench scripts share: printing, quiet progress, seconds, the median.

export const out = (line: string) => process.stdout.write(line + "\n");
/** A progress callback that prints nothing (the local cluster's steps during a timed run). */
export const quiet = () => {};
/** Milliseconds as seconds with one decimal. */
export const sec = (ms: number) => (ms / 1000).toFixed(1);
/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
