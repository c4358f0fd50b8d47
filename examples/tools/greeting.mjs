// A tenant's own tool module for the built-in tenant server. List it in the
// manifest, relative to the manifest file:
//
//   tenants:
//     acme:
//       tools_modules: [./examples/tools/greeting.mjs]
//
// Contract: export a function (default, or named `register`) that receives
// `api` = { tenantId, dataDir, z, log, registerTool } and registers tools.
// A handler gets (args, { userId, tenantId, signal }) and returns a text or
// an MCP tool result; what it throws becomes an `isError` result. If this
// module fails to load, the tenant's default data tools keep working.

export default function register(api) {
  api.registerTool(
    'greeting',
    {
      title: 'Greet someone',
      description: `Returns a greeting from tenant ${api.tenantId}, signed by the calling user.`,
      inputSchema: { name: api.z.string().min(1).max(100).describe('Who to greet') },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ name }, call) =>
      `Hello ${name}, from ${call.userId ?? 'someone'} at ${call.tenantId}!`,
  );
}
