// Tokenizes every .proj file of the repository and every ```proj example of docs/language.md
// with editors/proj.tmLanguage.json through the real TextMate engine (vscode-textmate +
// vscode-oniguruma, as VS Code does) and checks:
//   - every line tokenizes completely (tokens cover the line, the engine did not stop early);
//   - in files that compile (no NAME.errors next to them): no invalid.* token, every
//     projection closed at the end of the file, and the scopes agree with an independent
//     lexer: strings, comments, numbers, clause keywords, statement keywords, built-in
//     functions, operators, event/meta, member names;
//   - the exact scopes of known tokens in tests/editors/sample.proj.
// usage: node tokenize_test.js SOURCE_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const src = path.resolve(process.argv[2] || path.join(__dirname, '..', '..'));
const grammarPath = path.join(src, 'editors', 'proj.tmLanguage.json');

let failures = 0;
function fail(where, message) {
  failures++;
  if (failures <= 50) console.log(`FAIL ${where}: ${message}`);
}

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm')).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== 'source.proj') return null;
      return vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath);
    },
  });
  return registry.loadGrammar('source.proj');
}

// Tokenizes a file; returns [{text, tokens}] per line, and the final state.
function tokenizeFile(grammar, file, text) {
  const lines = text.split(/\r?\n/);
  let state = vsctm.INITIAL;
  const out = [];
  lines.forEach((line, i) => {
    const r = grammar.tokenizeLine(line, state, 1000);
    const where = `${file}:${i + 1}`;
    if (r.stoppedEarly) fail(where, 'the engine stopped early');
    let at = 0;
    for (const t of r.tokens) {
      if (t.startIndex !== at) fail(where, `a gap or overlap at column ${at + 1}`);
      at = Math.min(t.endIndex, line.length);
    }
    if (at !== line.length && line.length > 0) fail(where, `tokens end at ${at} of ${line.length}`);
    out.push({ text: line, tokens: r.tokens });
    state = r.ruleStack;
  });
  return { lines: out, state };
}

function scopesAt(line, col) {
  for (const t of line.tokens) {
    if (t.startIndex <= col && col < t.endIndex) return t.scopes;
  }
  return [];
}

function expectScope(where, line, col, scope, what) {
  const scopes = scopesAt(line, col);
  if (!scopes.includes(scope)) {
    fail(where, `${what} at column ${col + 1}: expected ${scope}, got ${scopes.join(' ')}`);
    return false;
  }
  return true;
}

// The independent lexer: what each lexeme of a compiling file must be scoped as.
const CLAUSES = new Set(['from', 'key', 'type', 'time', 'id', 'dedupe', 'where', 'on', 'index',
  'history', 'errors', 'format', 'alert']);
const FUNCTIONS = new Set(['coalesce', 'min', 'max', 'abs', 'round', 'lower', 'upper', 'len',
  'concat', 'substr', 'contains', 'starts_with', 'exists', 'date', 'month', 'hour', 'number',
  'string']);
const counts = {};

function crossCheck(file, lines) {
  let depth = 0;  // 0 outside projections, 1 in a projection body, 2+ in handler blocks
  lines.forEach((line, li) => {
    const s = line.text;
    const where = `${file}:${li + 1}`;
    const check = (col, scope, what) => {
      counts[scope] = (counts[scope] || 0) + 1;
      expectScope(where, line, col, scope, what);
    };
    let firstWord = true;
    let prevWord = '';
    for (let i = 0; i < s.length;) {
      const c = s[i];
      if (c === '#') {
        check(i, 'comment.line.number-sign.proj', 'comment');
        check(s.length - 1, 'comment.line.number-sign.proj', 'comment end');
        break;
      }
      if (c === '"') {
        let j = i + 1;
        while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
        for (let k = i; k <= Math.min(j, s.length - 1); k++) {
          expectScope(where, line, k, 'string.quoted.double.proj', 'string');
        }
        counts['string.quoted.double.proj'] = (counts['string.quoted.double.proj'] || 0) + 1;
        i = j + 1;
        firstWord = false;
        continue;
      }
      if (c === '{') depth++;
      if (c === '}') depth--;
      const num = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(s.slice(i));
      if (num && !/[A-Za-z0-9_]/.test(s[i - 1] || '')) {
        check(i, 'constant.numeric.decimal.proj', `number ${num[0]}`);
        i += num[0].length;
        firstWord = false;
        continue;
      }
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
      if (word) {
        const w = word[0];
        const before = s.slice(0, i).trimEnd();
        const after = s.slice(i + w.length).trimStart();
        if (before.endsWith('.')) {
          check(i, 'variable.other.member.proj', `member ${w}`);
        } else if (depth === 0 && w === 'projection') {
          check(i, 'storage.type.projection.proj', w);
        } else if (depth === 0 && prevWord === 'projection') {
          check(i, 'entity.name.type.projection.proj', `projection name ${w}`);
        } else if (depth === 1 && firstWord && CLAUSES.has(w)) {
          check(i, 'keyword.other.clause.proj', `clause ${w}`);
        } else if (depth >= 2 && (w === 'if' || w === 'else')) {
          check(i, 'keyword.control.conditional.proj', w);
        } else if (depth >= 2 && ['let', 'unset', 'delete', 'push'].includes(w)) {
          check(i, 'keyword.other.statement.proj', w);
        } else if (depth >= 1 && FUNCTIONS.has(w) && after.startsWith('(')) {
          check(i, 'support.function.builtin.proj', `function ${w}`);
        } else if (depth >= 1 && ['and', 'or', 'not'].includes(w)) {
          check(i, 'keyword.operator.logical.proj', w);
        } else if (depth >= 1 && ['true', 'false', 'null'].includes(w)) {
          check(i, 'constant.language.proj', w);
        } else if (depth >= 1 && (w === 'event' || w === 'meta')) {
          check(i, 'variable.language.proj', w);
        } else if (depth >= 2 && /^(\+=|-=|=(?!=))/.test(after) && prevWord !== 'let') {
          check(i, 'variable.other.field.proj', `assigned field ${w}`);
        }
        prevWord = w;
        firstWord = false;
        i += w.length;
        continue;
      }
      const op = /^(==|!=|<=|>=|\+=|-=)/.exec(s.slice(i));
      if (op && depth >= 1) {
        check(i, op[0].endsWith('=') && op[0].length === 2 && '+-'.includes(op[0][0])
          ? 'keyword.operator.assignment.proj' : 'keyword.operator.comparison.proj', op[0]);
        i += 2;
        continue;
      }
      if (!/\s/.test(c)) firstWord = false;
      i++;
    }
  });
}

function filesToTokenize() {
  const out = [];
  for (const dir of ['examples', 'projections', 'bench', path.join('tests', 'golden'),
    path.join('tests', 'projctl_golden', 'passing'), path.join('tests', 'projctl_golden', 'failing'),
    path.join('tests', 'editors')]) {
    const full = path.join(src, dir);
    if (!fs.existsSync(full)) continue;
    for (const f of fs.readdirSync(full).sort()) {
      if (f.endsWith('.proj')) out.push(path.join(full, f));
    }
  }
  return out;
}

function checkSample(grammar) {
  const file = path.join(src, 'tests', 'editors', 'sample.proj');
  const { lines } = tokenizeFile(grammar, 'sample.proj', fs.readFileSync(file, 'utf8'));
  // [line text fragment, token text, its occurrence on the line (0-based), expected scope]
  const expectations = [
    ['projection sample', 'projection', 0, 'storage.type.projection.proj'],
    ['projection sample', 'sample', 0, 'entity.name.type.projection.proj'],
    ['from "a-events"', 'from', 0, 'keyword.other.clause.proj'],
    ['from "a-events"', '"a-events"', 0, 'string.quoted.double.proj'],
    ['key event.account_id', 'key', 0, 'keyword.other.clause.proj'],
    ['key event.account_id', 'event', 0, 'variable.language.proj'],
    ['key event.account_id', 'account_id', 0, 'variable.other.member.proj'],
    ['key event.account_id', 'date', 0, 'support.function.builtin.proj'],
    ['type event["kind"]', 'type', 0, 'keyword.other.clause.proj'],
    ['type event["kind"]', '"kind"', 0, 'string.quoted.double.proj'],
    ['time event.ts', 'time', 0, 'keyword.other.clause.proj'],
    ['id event.event_id', 'id', 0, 'keyword.other.clause.proj'],
    ['dedupe', 'dedupe', 0, 'keyword.other.clause.proj'],
    ['where event.amount', 'where', 0, 'keyword.other.clause.proj'],
    ['where event.amount', '>=', 0, 'keyword.operator.comparison.proj'],
    ['where event.amount', 'and', 0, 'keyword.operator.logical.proj'],
    ['where event.amount', 'not', 0, 'keyword.operator.logical.proj'],
    ['where event.amount', 'meta', 0, 'variable.language.proj'],
    ['where event.amount', 'partition', 0, 'variable.other.member.proj'],
    ['where event.amount', 'in', 0, 'keyword.operator.word.proj'],
    ['where event.amount', '1', 0, 'constant.numeric.decimal.proj'],
    ['history 30 days', 'history', 0, 'keyword.other.clause.proj'],
    ['history 30 days', '30', 0, 'constant.numeric.decimal.proj'],
    ['history 30 days', 'days', 0, 'constant.language.option.proj'],
    ['errors stop', 'stop', 0, 'constant.language.option.proj'],
    ['format json', 'json', 0, 'constant.language.option.proj'],
    ['alert lag', 'lag', 0, 'constant.language.option.proj'],
    ['alert lag', '>', 0, 'keyword.operator.comparison.proj'],
    ['alert lag', '60', 0, 'constant.numeric.decimal.proj'],
    ['alert lag', 'seconds', 0, 'constant.language.option.proj'],
    ['index owner', 'index', 0, 'keyword.other.clause.proj'],
    ['on Deposited', 'on', 0, 'keyword.other.clause.proj'],
    ['on Deposited', 'Deposited', 0, 'entity.name.type.event.proj'],
    ['on Deposited', '"odd.type"', 0, 'string.quoted.double.proj'],
    ['on Deposited', '{', 0, 'punctuation.section.block.begin.proj'],
    ['owner = event.owner', 'owner', 0, 'variable.other.field.proj'],
    ['owner = event.owner', '=', 0, 'keyword.operator.assignment.proj'],
    ['balance += event.amount', '+=', 0, 'keyword.operator.assignment.proj'],
    ['balance += event.amount', '# trailing comment', 0, 'comment.line.number-sign.proj'],
    ['let fee', 'let', 0, 'keyword.other.statement.proj'],
    ['let fee', 'fee', 0, 'variable.other.let.proj'],
    ['let fee', 'round', 0, 'support.function.builtin.proj'],
    ['let fee', '*', 0, 'keyword.operator.arithmetic.proj'],
    ['let fee', '0.01', 0, 'constant.numeric.decimal.proj'],
    ['push recent', 'push', 0, 'keyword.other.statement.proj'],
    ['push recent', 'recent', 0, 'variable.other.field.proj'],
    ['push recent', 'limit', 0, 'keyword.other.statement.proj'],
    ['if balance < 0', 'if', 0, 'keyword.control.conditional.proj'],
    ['if balance < 0', '<', 0, 'keyword.operator.comparison.proj'],
    ['if balance < 0', 'true', 0, 'constant.language.proj'],
    ['if balance < 0', 'else', 1, 'keyword.control.conditional.proj'],
    ['if balance < 0', 'unset', 0, 'keyword.other.statement.proj'],
    ['if balance < 0', 'delete', 0, 'keyword.other.statement.proj'],
    ['name = "a', '\\"', 0, 'constant.character.escape.proj'],
    ['name = "a', '\\u00e9', 0, 'constant.character.escape.proj'],
    ['from = key', 'from', 0, 'variable.other.field.proj'],
    ['from = key', 'key', 0, 'variable.language.key.proj'],
    ['from = key', ';', 0, 'punctuation.terminator.statement.proj'],
    ['from = key', 'null', 0, 'constant.language.proj'],
    ['x = coalesce', 'coalesce', 0, 'support.function.builtin.proj'],
    ['x = coalesce', '1.5e3', 0, 'constant.numeric.decimal.proj'],
    ['x = coalesce', '+', 0, 'keyword.operator.arithmetic.proj'],
    ['x = coalesce', '-', 0, 'keyword.operator.arithmetic.proj'],
    ['y = event.items', 'starts_with', 0, 'keyword.operator.word.proj'],
    ['y = event.items', 'sku', 0, 'variable.other.member.proj'],
    ['index text memo', 'index', 0, 'keyword.other.clause.proj'],
    ['index text memo', 'text', 0, 'constant.language.option.proj'],
    ['index text memo', 'memo', 0, 'variable.other.field.proj'],
    ['index text memo', 'language', 0, 'constant.language.option.proj'],
    ['index text memo', '"english"', 0, 'string.quoted.double.proj'],
    ['audit by', 'audit', 0, 'keyword.other.clause.proj'],
    ['correlation meta', 'correlation', 0, 'keyword.other.clause.proj'],
    ['on * {', '*', 0, 'keyword.operator.wildcard.proj'],
    ['on * {', 'frob', 0, 'variable.function.proj'],
  ];
  let n = 0;
  for (const [fragment, token, occurrence, scope] of expectations) {
    const li = lines.findIndex((l) => l.text.includes(fragment));
    if (li < 0) {
      fail('sample.proj', `no line with '${fragment}'`);
      continue;
    }
    let col = -1;
    for (let k = 0; k <= occurrence; k++) col = lines[li].text.indexOf(token, col + 1);
    if (col < 0) {
      fail(`sample.proj:${li + 1}`, `no '${token}' on the line`);
      continue;
    }
    // The whole token must carry the scope.
    let ok = true;
    for (let k = col; k < col + token.length && ok; k++) {
      ok = expectScope(`sample.proj:${li + 1}`, lines[li], k, scope, `'${token}'`);
    }
    n++;
  }
  return n;
}

async function main() {
  const grammar = await loadGrammar();
  if (!grammar) throw new Error('cannot load ' + grammarPath);
  const files = filesToTokenize();
  let checked = 0;
  let lineCount = 0;
  for (const file of files) {
    const rel = path.relative(src, file);
    // An editor drops a file's byte order mark before its grammar sees the text (projd skips
    // it too).
    const text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
    const { lines, state } = tokenizeFile(grammar, rel, text);
    lineCount += lines.length;
    if (fs.existsSync(file.replace(/\.proj$/, '.errors'))) continue;  // deliberately broken
    checked++;
    lines.forEach((l, i) => {
      for (const t of l.tokens) {
        if (t.scopes.some((s) => s.startsWith('invalid.'))) {
          fail(`${rel}:${i + 1}`, `invalid token '${l.text.slice(t.startIndex, t.endIndex)}'`);
        }
      }
    });
    // Back at the top level: the next line's `projection` starts a new projection.
    const next = grammar.tokenizeLine('projection next {', state);
    if (next.tokens[0].scopes.join(' ') !== 'source.proj meta.projection.proj storage.type.projection.proj') {
      fail(rel, `a scope is still open at the end of the file: ${next.tokens[0].scopes.join(' ')}`);
    }
    crossCheck(rel, lines);
  }
  // The examples of the language reference (```proj blocks compile; ```proj-error ones do not).
  const docPath = path.join(src, 'docs', 'language.md');
  let docExamples = 0;
  if (fs.existsSync(docPath)) {
    const doc = fs.readFileSync(docPath, 'utf8');
    const re = /^```proj\n([\s\S]*?)^```$/gm;
    for (let m; (m = re.exec(doc));) {
      const line = doc.slice(0, m.index).split('\n').length + 1;
      const rel = `docs/language.md:${line}+`;
      const { lines, state } = tokenizeFile(grammar, rel, m[1]);
      lines.forEach((l, i) => {
        for (const t of l.tokens) {
          if (t.scopes.some((s) => s.startsWith('invalid.'))) {
            fail(`${rel}${i}`, `invalid token '${l.text.slice(t.startIndex, t.endIndex)}'`);
          }
        }
      });
      const next = grammar.tokenizeLine('projection next {', state);
      if (next.tokens[0].scopes.join(' ') !== 'source.proj meta.projection.proj storage.type.projection.proj') {
        fail(rel, 'a scope is still open at the end of the example');
      }
      crossCheck(rel, lines);
      docExamples++;
    }
  }
  if (files.length < 100 || checked < 50 || docExamples < 20) {
    fail('files', `expected the repository's .proj files under ${src}, found ${files.length}`);
  }
  for (const scope of ['comment.line.number-sign.proj', 'string.quoted.double.proj',
    'constant.numeric.decimal.proj', 'keyword.other.clause.proj', 'keyword.other.statement.proj',
    'support.function.builtin.proj', 'keyword.operator.comparison.proj']) {
    if (!(counts[scope] > 10)) fail('cross-check', `too few ${scope} tokens checked`);
  }
  const sample = checkSample(grammar);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(`${files.length} files, ${lineCount} lines tokenized; ${checked} compiling files ` +
    `and ${docExamples} examples of docs/language.md ` +
    `cross-checked (${total} tokens); ${sample} sample tokens; ${failures} failures`);
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.log('FAIL ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
