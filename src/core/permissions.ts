// The permission words with a meaning of their own; the rest are `<kind>:<glob>`.

/** Carried by operator tokens only; never mixed with a tenant_id. */
export const OPERATOR_PERMISSION = 'operator';
/** Grants everything within the token's own tenant. */
export const ADMIN_PERMISSION = 'admin';
