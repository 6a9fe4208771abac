// The graphql-http server audit against a running `daira serve`:
//   node api/audit/audit.cjs http://127.0.0.1:8080/graphql
// Prints every audit; exits 1 on any error or warning (the MUSTs and SHOULDs of the
// GraphQL-over-HTTP specification), 2 when the server cannot be reached. MAY audits that fail
// are notices, printed and counted but not fatal.
const { auditServer } = require('graphql-http');

const url = process.argv[2] || process.env.AUDIT_URL || 'http://127.0.0.1:8080/graphql';

async function describe(res) {
  if (!res) return '';
  let body = '<unreadable>';
  try {
    body = res.bodyUsed ? '<body already read>' : await res.text();
  } catch (e) {
    body = `<${e.message}>`;
  }
  return `HTTP ${res.status} content-type=${res.headers.get('content-type')} body=${body.slice(0, 300)}`;
}

(async () => {
  let results;
  try {
    results = await auditServer({ url });
  } catch (e) {
    console.error('the audit could not run:', e && (e.cause || e));
    process.exit(2);
  }
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  for (const r of results) {
    counts[r.status]++;
    console.log(`${r.status.toUpperCase().padEnd(6)} ${r.id} ${r.name}`);
    if (r.status !== 'ok') console.log(`       reason: ${r.reason}\n       response: ${await describe(r.response)}`);
  }
  console.log(
    `\ngraphql-http audit of ${url}: ${results.length} audits, ${counts.ok} ok, ` +
      `${counts.error} errors, ${counts.warn} warnings, ${counts.notice} notices`,
  );
  process.exit(counts.error + counts.warn > 0 ? 1 : 0);
})();
