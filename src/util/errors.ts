/**
 * A problem with the user's input (a file, a flag, a data set): reported as one line
 * naming the file and the problem, then a non-zero exit. Never a stack trace.
 */
export class GradiaInputError extends Error {
  constructor(readonly file: string | null, readonly problem: string) {
    super(file ? `${file}: ${problem}` : problem);
    this.name = 'GradiaInputError';
  }
}
