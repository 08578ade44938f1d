/** Why a decision on an approval was refused. */

/** The approval was decided already (each decision counts once): the API answers 409. */
export class ApprovalDecidedError extends Error {
  override readonly name = "ApprovalDecidedError";
  readonly code = "approval_decided";
  constructor(
    readonly id: string,
    readonly status: string,
  ) {
    super(`approval ${id} is ${status} already: each approval is decided once`);
  }
}

/** No approval has that id. */
export class NoApprovalError extends Error {
  override readonly name = "NoApprovalError";
  readonly code = "no_approval";
  constructor(readonly id: string) {
    super(`no approval ${id}`);
  }
}
