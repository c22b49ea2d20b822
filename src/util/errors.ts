/**
 * Control characters (C0, DEL, C1, and the Unicode line/paragraph separators) written
 * JSON-style (`\n`, `\t`, `\u001b`, ...), so that text from the user — a file name holding
 * a newline, a quoted value — can never split a one-line message or drive the terminal.
 * Backslashes are left as they are: Windows paths stay readable, and escaping twice is harmless.
 */
export function escapeControl(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      case '\b':
        return '\\b';
      case '\f':
        return '\\f';
      default:
        return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  });
}

/**
 * A problem with the user's input (a file, a flag, a data set): reported as one line
 * naming the file and the problem, then a non-zero exit. Never a stack trace.
 * `file` and `problem` keep the raw text; the message is escaped to one line.
 */
export class GradiaInputError extends Error {
  constructor(readonly file: string | null, readonly problem: string) {
    super(escapeControl(file ? `${file}: ${problem}` : problem));
    this.name = 'GradiaInputError';
  }
}
