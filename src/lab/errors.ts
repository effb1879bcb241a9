import { GalleyError } from '../core/errors.js';

/** The lab cannot be brought up, down or inspected; the message says why and what to do. */
export class LabError extends GalleyError {
  constructor(message: string, suggestions: string[] = [], cause?: unknown) {
    super(message, { suggestions, cause });
  }
}
