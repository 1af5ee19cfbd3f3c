// Errors bpfready raises on purpose. Each has a stable `code` (public: it appears in logs and JSON)
// and, where there is one, the underlying `cause`. Anything else that escapes is a bug.

export class BpfreadyError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Input we read (a file, a blob, a config, a line) is malformed. `input` names it for the operator. */
export class ParseError extends BpfreadyError {
  readonly input: string;
  constructor(input: string, message: string, options?: { cause?: unknown }) {
    super('EBPFREADY_PARSE', `${input}: ${message}`, options);
    this.input = input;
  }
}

/** Command-line, environment or config-file usage error (exit code 2). */
export class UsageError extends BpfreadyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EBPFREADY_USAGE', message, options);
  }
}
