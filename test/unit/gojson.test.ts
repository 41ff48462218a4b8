import { describe, expect, it } from 'vitest';
import {
  GoJsonError,
  GoObject,
  foldKey,
  goEqualFold,
  parseGoJson,
  toJson,
  type GoValue,
} from '../../src/policy/gojson.js';

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const parse = (s: string, opts?: { maxDepth?: number }): GoValue => parseGoJson(bytes(s), opts);

/** GoValue -> plain JS (objects keyed by spelled key), for comparing with JSON.parse. */
function plain(v: GoValue): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof GoObject) {
    const o: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [k, val] of v.entries()) o[k] = plain(val);
    return o;
  }
  return v;
}

function obj(v: GoValue | undefined): GoObject {
  if (!(v instanceof GoObject)) throw new Error(`not an object: ${String(v)}`);
  return v;
}

function rejects(input: string | Uint8Array, match?: RegExp, opts?: { maxDepth?: number }): GoJsonError {
  let err: unknown;
  try {
    parseGoJson(typeof input === 'string' ? bytes(input) : input, opts);
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${JSON.stringify(typeof input === 'string' ? input : [...input])} to be rejected`).toBeInstanceOf(
    GoJsonError,
  );
  const ge = err as GoJsonError;
  if (match) expect(ge.message).toMatch(match);
  expect(ge.offset).toBeGreaterThanOrEqual(0);
  return ge;
}

// A realistic `docker run` container-create body (as the CLI / compose would send it).
const CREATE_BODY = {
  Hostname: '',
  User: '1000:1000',
  AttachStdout: true,
  ExposedPorts: { '80/tcp': {}, '443/tcp': {} },
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin', 'TZ=Europe/Berlin', 'GREETING=grüß dich 😀'],
  Cmd: ['nginx', '-g', 'daemon off;'],
  Healthcheck: { Test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], Interval: 30000000000, Retries: 3 },
  Image: 'docker.io/library/nginx:1.25.3',
  Volumes: { '/var/cache/nginx': {} },
  Labels: { 'com.docker.compose.project': 'web', 'com.docker.compose.oneoff': 'False', '1': 'numeric-looking key' },
  StopTimeout: 10,
  HostConfig: {
    Binds: ['/srv/web/html:/usr/share/nginx/html:ro'],
    LogConfig: { Type: 'json-file', Config: { 'max-size': '10m' } },
    PortBindings: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] },
    RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
    CapAdd: ['NET_BIND_SERVICE'],
    CapDrop: ['ALL'],
    Privileged: false,
    ReadonlyRootfs: true,
    SecurityOpt: ['no-new-privileges:true'],
    Tmpfs: { '/tmp': 'rw,noexec,nosuid,size=64m' },
    Memory: 536870912,
    NanoCpus: 1500000000,
    CpuShares: 512,
    MemorySwappiness: null,
    Ulimits: [{ Name: 'nofile', Soft: 65536, Hard: 65536 }],
    Mounts: [{ Type: 'volume', Source: 'web_cache', Target: '/var/cache/nginx', VolumeOptions: { NoCopy: false } }],
    MaskedPaths: ['/proc/asound', '/proc/acpi', '/proc/kcore'],
    Init: true,
  },
  NetworkingConfig: { EndpointsConfig: { web_default: { Aliases: ['nginx'], IPAMConfig: null } } },
};

describe('parseGoJson: legitimate bodies', () => {
  it('parses a container-create body to the same value as JSON.parse (compact and indented)', () => {
    for (const text of [JSON.stringify(CREATE_BODY), JSON.stringify(CREATE_BODY, null, '\t'), JSON.stringify(CREATE_BODY, null, 2)]) {
      const v = parse(text);
      expect(plain(v)).toEqual(JSON.parse(text));
      const root = obj(v);
      expect(obj(root.get('HostConfig')).get('Privileged')).toBe(false);
      expect(obj(root.get('HostConfig')).get('Memory')).toBe(536870912);
      expect(root.get('Image')).toBe('docker.io/library/nginx:1.25.3');
      expect(root.get('Env')).toEqual(CREATE_BODY.Env);
    }
  });

  it('accepts a Buffer and a Uint8Array subarray view (offsets are relative to the view)', () => {
    const full = Buffer.from('xx{"A":1}yy');
    expect(plain(parseGoJson(full.subarray(2, 9)))).toEqual({ A: 1 });
    const u8 = new Uint8Array(full.buffer.slice(full.byteOffset, full.byteOffset + full.length)).subarray(2, 9);
    expect(plain(parseGoJson(u8))).toEqual({ A: 1 });
    const e = rejects(new Uint8Array(bytes('..{"A":1,"a":2}')).subarray(2), /duplicate/);
    expect(e.offset).toBe(7);
  });

  it('parses scalars and empty containers at top level, with surrounding JSON whitespace', () => {
    expect(parse(' \t\r\n{} \n')).toBeInstanceOf(GoObject);
    expect(parse('[]')).toEqual([]);
    expect(parse('"x"')).toBe('x');
    expect(parse('true')).toBe(true);
    expect(parse('false')).toBe(false);
    expect(parse('null')).toBe(null);
    expect(parse('7')).toBe(7);
    expect(parse('[1, "a", null, true, {"k": [ ]}]')).toEqual([1, 'a', null, true, expect.any(GoObject)]);
  });

  it('keeps document order (including numeric-looking keys) and spelling in entries()', () => {
    const o = obj(parse('{"b":1,"2":2,"a":3,"1":4,"__proto__":{"x":1}}'));
    expect(o.entries().map(([k]) => k)).toEqual(['b', '2', 'a', '1', '__proto__']);
    expect(o.size).toBe(5);
    expect(obj(o.get('__proto__')).get('x')).toBe(1);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined(); // no prototype pollution
  });

  it('decodes every JSON escape and multi-byte UTF-8 the way Go does', () => {
    expect(parse(String.raw`"\" \\ \/ \b \f \n \r \t \u0000 \u00e9 \u20AC \ud83d\ude00"`)).toBe(
      '" \\ / \b \f \n \r \t \u0000 é € 😀',
    );
    expect(parse('"é€😀\u007f"')).toBe('é€😀\u007f');
    expect(parse('"a\u2028b"')).toBe('a\u2028b'); // raw U+2028 is fine in JSON
    expect(obj(parse('{"k\\u00e9y":"v\\u00e9"}')).get('kéy')).toBe('vé');
  });

  it('returns the right strings across many parses (key intern table never confuses keys)', () => {
    const rnd = mulberry32(7);
    for (let round = 0; round < 300; round++) {
      const o: Record<string, number> = {};
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) {
        let k = '';
        const len = 1 + Math.floor(rnd() * 12);
        for (let j = 0; j < len; j++) k += 'abAB_0z'[Math.floor(rnd() * 7)];
        if (seen.has(foldKey(k))) continue;
        seen.add(foldKey(k));
        o[k] = i;
      }
      const text = JSON.stringify(o);
      expect(plain(parse(text))).toEqual(JSON.parse(text));
    }
  });
});

describe('duplicate keys under Go folding are rejected, at any depth', () => {
  it.each([
    ['{"HostConfig":{"Privileged":true},"hostconfig":{}}', 'hostconfig'],
    ['{"Privileged":false,"privileged":true}', 'privileged'],
    ['{"Privileged":false,"Privileged":true}', 'Privileged'],
    ['{"HostConfig":{"Binds":[],"CapAdd":["ALL"],"capadd":[]}}', 'capadd'],
    ['{"a":[{"x":{"Devices":[],"DEVICES":[]}}]}', 'DEVICES'],
    ['[{"k":1},{"k":1,"K":2}]', 'K'],
    ['{"Privileged":false,"Privil\\u0065ged":true}', 'Privileged'], // escaped spelling
    ['{"SecurityOpt":[],"\u017fecurityOpt":["seccomp=unconfined"]}', '\u017fecurityOpt'], // long s
    ['{"CapAdd":[],"C\\u0061pAdd":[]}', 'CapAdd'],
    ['{"Links":[],"Lin\u212as":["x"]}', 'Lin\u212as'], // Kelvin sign
    ['{"Lin\\u212as":[],"LINKS":[]}', 'LINKS'],
    ['{"Labels":{"a":"1","A":"2"}}', 'A'], // also in map-typed objects (conservative)
    ['{"\u0131mage":"a","Image":"b"}', 'Image'], // ı: no Go version folds it, foldKey does (conservative)
    ['{"\u01c4":1,"\u01c5":2}', '\u01c5'], // Ǆ ǅ: one SimpleFold orbit
    ['{"\u03a3":1,"\u03c2":2}', '\u03c2'], // Σ ς
  ])('rejects %s', (input, key) => {
    const e = rejects(input, /duplicate key/);
    expect(e.message).toContain(JSON.stringify(key));
  });

  it('reports the offset of the second key', () => {
    const text = '{"Privileged":false,\n "privileged":true}';
    expect(rejects(text).offset).toBe(text.indexOf('"privileged"'));
  });

  it('detects duplicates in large objects too (indexed path)', () => {
    for (const n of [7, 8, 9, 20, 100]) {
      const parts: string[] = [];
      for (let i = 0; i < n; i++) parts.push(`"Key${i}":${i}`);
      expect(obj(parse(`{${parts.join(',')}}`)).size).toBe(n);
      rejects(`{${parts.join(',')},"KEY0":0}`, /duplicate key "KEY0"/);
      rejects(`{${parts.join(',')},"key${n - 1}":0}`, /duplicate key/);
      rejects(`{"key${n - 1}":0,${parts.join(',')}}`, /duplicate key/);
    }
  });

  it('does not merge keys Go keeps apart', () => {
    expect(obj(parse('{"ss":1,"\u00df":2}')).size).toBe(2); // ß is not ss (no simple fold)
    expect(obj(parse('{"a_b":1,"ab":2,"a-b":3}')).size).toBe(3); // v1 never ignores _ or -
    expect(obj(parse('{"k":1,"k ":2}')).size).toBe(2);
    expect(obj(parse('{"":1,"a":2}')).size).toBe(2);
  });
});

describe('GoObject lookup matches Go struct-field matching', () => {
  const o = obj(
    parse(
      '{"privileged":true,"\u017fecurityOpt":["seccomp=unconfined"],"Lin\u212as":["db"],"NetworkD\u0131sabled":true,"\u0130nit":true,"Image":"x"}',
    ),
  );

  it('is case-insensitive and reports the client spelling', () => {
    expect(o.get('Privileged')).toBe(true);
    expect(o.has('PRIVILEGED')).toBe(true);
    expect(o.keyOf('Privileged')).toBe('privileged');
    expect(o.get('Image')).toBe('x');
    expect(o.get('Missing')).toBeUndefined();
    expect(o.has('Missing')).toBe(false);
    expect(o.keyOf('Missing')).toBeUndefined();
  });

  it('matches U+017F (long s) to s and U+212A (Kelvin) to k', () => {
    expect(o.get('SecurityOpt')).toEqual(['seccomp=unconfined']);
    expect(o.keyOf('SecurityOpt')).toBe('\u017fecurityOpt');
    expect(o.get('Links')).toEqual(['db']);
    expect(o.keyOf('links')).toBe('Lin\u212as');
  });

  it('does not match U+0131 / U+0130 to i (Go\'s caseOrbit keeps them alone)', () => {
    expect(o.get('NetworkDisabled')).toBeUndefined();
    expect(o.has('NetworkDisabled')).toBe(false);
    expect(o.get('Init')).toBeUndefined();
  });

  it('getExact is exact (for map-typed objects)', () => {
    const labels = obj(parse('{"Com.Example":"1"}'));
    expect(labels.getExact('Com.Example')).toBe('1');
    expect(labels.getExact('com.example')).toBeUndefined();
    expect(labels.get('com.example')).toBe('1');
  });

  it('set/delete rewrite under Go matching and keep folded uniqueness', () => {
    const x = obj(parse('{"privileged":true,"Image":"a"}'));
    x.set('Privileged', false);
    expect(x.entries()).toEqual([
      ['privileged', false],
      ['Image', 'a'],
    ]);
    x.set('CapDrop', ['ALL']);
    expect(x.keyOf('capdrop')).toBe('CapDrop');
    expect(x.delete('IMAGE')).toBe(true);
    expect(x.delete('IMAGE')).toBe(false);
    expect(toJson(x)).toBe('{"privileged":false,"CapDrop":["ALL"]}');
    const y = new GoObject([['NetworkD\u0131sabled', true]]);
    expect(() => y.set('NetworkDisabled', false)).toThrow(GoJsonError);
  });

  it('constructor rejects folded duplicates', () => {
    expect(() => new GoObject([['Privileged', true], ['PRIVILEGED', false]])).toThrow(/duplicate key/);
    expect(new GoObject([['a', 1], ['b', [new GoObject()]]]).size).toBe(2);
  });
});

describe('foldKey / goEqualFold', () => {
  it('folds ASCII case, long s, Kelvin sign; keeps length in code points', () => {
    expect(foldKey('HostConfig')).toBe(foldKey('hostconfig'));
    expect(foldKey('\u017fecurityOpt')).toBe(foldKey('SecurityOpt'));
    expect(foldKey('\u212aernel')).toBe(foldKey('Kernel'));
    expect(foldKey('\u00df')).not.toBe(foldKey('ss'));
    expect(foldKey('a_b')).not.toBe(foldKey('ab'));
    expect(foldKey('\u01c4')).toBe(foldKey('\u01c6'));
    expect(foldKey('\u1fd3')).toBe(foldKey('\u0390')); // CaseFolding S pair (Unicode 15, Go >= 1.21)
    expect(foldKey('\ufb05')).toBe(foldKey('\ufb06'));
    expect(foldKey('\u0130')).toBe(foldKey('i')); // wider than Go, on purpose
    expect(foldKey('\u0131')).toBe(foldKey('I'));
  });

  it('goEqualFold is Go\'s rune-by-rune SimpleFold comparison', () => {
    expect(goEqualFold('privileged', 'Privileged')).toBe(true);
    expect(goEqualFold('\u017fecurityOpt', 'SecurityOpt')).toBe(true);
    expect(goEqualFold('Lin\u212as', 'Links')).toBe(true);
    expect(goEqualFold('NetworkD\u0131sabled', 'NetworkDisabled')).toBe(false);
    expect(goEqualFold('\u0130nit', 'Init')).toBe(false);
    expect(goEqualFold('\u00df', 'ss')).toBe(false);
    expect(goEqualFold('Image', 'Images')).toBe(false);
    expect(goEqualFold('\u1e9e', '\u00df')).toBe(true); // ẞ ~ ß (CaseFolding C)
  });

  // The /iu RegExp engine canonicalizes characters by Unicode simple case folding (ECMA-262
  // Canonicalize), which is exactly what unicode.SimpleFold orbits are. Check every cased code
  // point: foldKey never splits a class (no missed duplicates), goEqualFold equals it exactly.
  it('agrees with Unicode simple case folding on every cased code point', () => {
    const cased = /[\p{CWCF}\p{CWCM}]/u;
    const points: number[] = [];
    for (let c = 0; c <= 0x10ffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      if (c < 0x80 || cased.test(String.fromCodePoint(c))) points.push(c);
    }
    const byFold = new Map<string, number[]>();
    for (const c of points) {
      const f = foldKey(String.fromCodePoint(c));
      let g = byFold.get(f);
      if (!g) byFold.set(f, (g = []));
      g.push(c);
    }
    const problems: string[] = [];
    const hex = (c: number): string => `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    const strs = points.map((c) => String.fromCodePoint(c));
    const folds = strs.map((s) => foldKey(s));
    for (let ci = 0; ci < points.length; ci++) {
      const c = points[ci]!;
      if (c < 0x80 && !/[A-Za-z]/.test(String.fromCharCode(c))) continue;
      const s = strs[ci]!;
      const re = new RegExp(`^[${s.replace(/[\\\]\[^-]/g, '\\$&')}]$`, 'iu');
      const f = folds[ci]!;
      for (let di = 0; di < points.length; di++) {
        if (di === ci) continue;
        const d = points[di]!;
        const t = strs[di]!;
        const same = re.test(t);
        if (same && folds[di] !== f) problems.push(`foldKey splits ${hex(c)} ${hex(d)}`);
        if (same !== goEqualFold(s, t)) problems.push(`goEqualFold(${hex(c)}, ${hex(d)}) = ${!same}`);
      }
      // foldKey may merge more than Go only for the documented dotted/dotless i.
      for (const d of byFold.get(f)!) {
        if (d !== c && !re.test(String.fromCodePoint(d)) && ![0x49, 0x69, 0x130, 0x131].includes(c)) {
          problems.push(`foldKey merges ${hex(c)} ${hex(d)}`);
        }
      }
    }
    expect(problems).toEqual([]);
  }, 60_000);
});

describe('bytes Go would silently repair are rejected', () => {
  it.each([
    ['lone continuation byte', [0x22, 0x80, 0x22]],
    ['overlong 2-byte', [0x22, 0xc0, 0xaf, 0x22]],
    ['overlong 2-byte C1', [0x22, 0xc1, 0xbf, 0x22]],
    ['overlong 3-byte', [0x22, 0xe0, 0x80, 0xaf, 0x22]],
    ['overlong 4-byte', [0x22, 0xf0, 0x80, 0x80, 0xaf, 0x22]],
    ['UTF-8 encoded surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ['above U+10FFFF', [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]],
    ['F5 lead byte', [0x22, 0xf5, 0x80, 0x80, 0x80, 0x22]],
    ['FF byte', [0x22, 0xff, 0x22]],
    ['truncated sequence before quote', [0x22, 0xe2, 0x82, 0x22]],
    ['truncated sequence at end', [0x22, 0xe2, 0x82]],
    ['invalid byte in a key', [0x7b, 0x22, 0x50, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]],
    ['invalid byte after an escape', [0x22, 0x5c, 0x6e, 0x80, 0x22]],
    ['non-ASCII outside strings', [0x5b, 0xc3, 0xa9, 0x5d]],
  ])('invalid UTF-8: %s', (_name, arr) => {
    rejects(new Uint8Array(arr));
  });

  it('reports the offset of the bad byte', () => {
    expect(rejects(new Uint8Array([0x22, 0x61, 0x62, 0xff, 0x22]), /UTF-8/).offset).toBe(3);
  });

  it.each([
    String.raw`"\ud800"`,
    String.raw`"\udfff"`,
    String.raw`"\ud800\u0041"`,
    String.raw`"\ud800x"`,
    String.raw`"\ud800\n"`,
    String.raw`"\udc00\ud800"`,
    String.raw`"\ud800\ud800"`,
    String.raw`{"\ud800":1}`,
    String.raw`"\uD83D"`,
  ])('unpaired surrogate escape %s', (input) => {
    rejects(input, /surrogate/);
  });

  it('accepts a proper surrogate pair', () => {
    expect(parse(String.raw`"\uD83D\uDE00"`)).toBe('😀');
  });

  it('rejects a byte order mark', () => {
    rejects(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), /byte order mark/);
    rejects(new Uint8Array([0x20, 0xef, 0xbb, 0xbf, 0x7b, 0x7d]));
  });
});

describe('strict RFC 8259 syntax', () => {
  it('rejects empty input and only-whitespace input', () => {
    rejects('', /empty/);
    rejects(' \n\t\r', /empty/);
  });

  it.each(['{} {}', '{}x', '[]]', '1 2', '"a""b"', 'null null', '{}\u0000', '{},', 'true false'])(
    'rejects trailing data: %s',
    (input) => {
      rejects(input, /trailing data/);
    },
  );

  it.each(['\f{}', '{}\f', '\v1', '\u00a0{}', '{\u00a0}', '{}\u2028', '[1,\u00a02]'])(
    'rejects non-JSON whitespace %j',
    (input) => {
      rejects(input);
    },
  );

  it.each([
    '{"a":1,}',
    '[1,]',
    '[,1]',
    '{,}',
    '{"a" 1}',
    '{"a":1 "b":2}',
    '[1 2]',
    '{a:1}',
    "{'a':1}",
    "'a'",
    '{"a":1}//c',
    '/*c*/{}',
    '{"a"://c\n1}',
    '{"a":undefined}',
    'tru',
    'True',
    'nul',
    'nulll',
    '[',
    '{',
    '{"a"',
    '{"a":',
    '"abc',
    '"\\',
    '"\\x"',
    "\"\\'\"",
    '"\\u12"',
    '"\\u12G4"',
    '"\\U0041"',
    '{"a":1',
    '[1',
    ']',
    '}',
    ':',
  ])('rejects %j', (input) => {
    rejects(input);
  });

  it('rejects unescaped control characters in strings, allows DEL', () => {
    for (let c = 0; c < 0x20; c++) {
      rejects(`"a${String.fromCharCode(c)}b"`, /control character/);
      rejects(`{"k${String.fromCharCode(c)}":1}`, /control character/);
    }
    expect(parse('"\u007f"')).toBe('\u007f');
  });
});

describe('numbers', () => {
  it.each([
    ['0', 0],
    ['-0', -0],
    ['1', 1],
    ['-1', -1],
    ['10', 10],
    ['1.5', 1.5],
    ['-0.25', -0.25],
    ['0.0', 0],
    ['1e5', 1e5],
    ['1E5', 1e5],
    ['1e+5', 1e5],
    ['1e-5', 1e-5],
    ['2.5E-3', 0.0025],
    ['123456789012345', 123456789012345],
    ['9007199254740993', 9007199254740992], // nearest double, as Go's ParseFloat
    ['12345678901234567890', 12345678901234567000],
    ['1.7976931348623157e308', 1.7976931348623157e308],
    ['5e-324', 5e-324],
    ['1e-400', 0], // underflow rounds to zero
  ])('parses %s', (text, want) => {
    expect(Object.is(parse(text), want)).toBe(true);
    expect(Object.is((parse(`[${text}]`) as number[])[0], want)).toBe(true);
  });

  it.each(['01', '-01', '00', '+1', '.5', '-.5', '1.', '1.e5', '1e', '1e+', '1E-', '-', '--1', '- 1', 'NaN', 'Infinity', '-Infinity', '0x10', '1_000', '1ee5', '1.2.3'])(
    'rejects %s',
    (text) => {
      rejects(text);
      rejects(`{"Memory":${text}}`);
    },
  );

  it('names the leading-zero rule', () => {
    rejects('[01]', /leading zero/);
    rejects('{"a":-00}', /leading zero/);
  });

  it('rejects numbers that overflow a float64', () => {
    rejects('1e400', /out of range/);
    rejects('-1e400', /out of range/);
    rejects(`{"Memory":1${'0'.repeat(400)}}`, /out of range/);
    expect(parse('1.7976931348623158e308')).toBe(1.7976931348623157e308); // rounds down, still finite
  });
});

describe('depth limit', () => {
  const nestedArrays = (n: number): string => '['.repeat(n) + ']'.repeat(n);
  const nestedObjects = (n: number): string => '{"a":'.repeat(n - 1) + '{}' + '}'.repeat(n - 1);

  it('allows 200 levels by default and rejects 201', () => {
    expect(() => parse(nestedArrays(200))).not.toThrow();
    expect(() => parse(nestedObjects(200))).not.toThrow();
    rejects(nestedArrays(201), /nesting deeper than 200/);
    rejects(nestedObjects(201), /nesting deeper than 200/);
  });

  it('honours maxDepth and fails fast on absurd nesting', () => {
    expect(() => parse(nestedArrays(3), { maxDepth: 3 })).not.toThrow();
    rejects(nestedArrays(4), /nesting/, { maxDepth: 3 });
    rejects('[{"a":[1]}]', /nesting/, { maxDepth: 2 });
    rejects('[' + '['.repeat(1_000_000), /nesting/);
  });

  it('caps maxDepth at Go\'s own 10000 and never crashes with a stack overflow', () => {
    // 10000 levels may exceed the JS stack (depends on the thread's stack): then it is a clean
    // GoJsonError refusal, never a RangeError escaping to the caller.
    try {
      parse(nestedArrays(10_000), { maxDepth: 1_000_000 });
    } catch (e) {
      expect(e).toBeInstanceOf(GoJsonError);
      expect(String(e)).toMatch(/nesting/);
    }
    rejects(nestedArrays(10_001), /nesting/, { maxDepth: 1_000_000 });
    expect(() => parse(nestedArrays(1000), { maxDepth: 1000 })).not.toThrow();
    expect(() => parse('1', { maxDepth: -1 })).toThrow(RangeError);
    expect(() => parse('1', { maxDepth: Number.NaN })).toThrow(RangeError);
    expect(parse('1', { maxDepth: 0 })).toBe(1);
    rejects('[]', /nesting/, { maxDepth: 0 });
  });
});

describe('toJson', () => {
  it('round-trips a parsed body exactly (values, order, spelling)', () => {
    const text = JSON.stringify(CREATE_BODY);
    const v = parse(text);
    expect(toJson(v)).toBe(text);
    const pretty = JSON.stringify(CREATE_BODY, null, 2);
    expect(toJson(parse(pretty))).toBe(text);
  });

  it('escapes strings and keys as JSON and keeps client key spelling', () => {
    const v = parse(String.raw`{"\u017fecurityOpt":["a\"b\\c\n\u0001é😀"],"Lin\u212as":[]}`);
    const out = toJson(v);
    expect(out).toBe('{"\u017fecurityOpt":["a\\"b\\\\c\\n\\u0001é😀"],"Lin\u212as":[]}');
    expect(plain(parse(out))).toEqual(plain(v));
  });

  it('writes numbers so they parse back to the same float64', () => {
    for (const n of [0, 1, -1, 1.5, 1e21, 1e-7, 123456789012, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE, 0.1 + 0.2]) {
      const out = toJson(n);
      expect(parse(out)).toBe(n);
    }
    expect(toJson(-0)).toBe('-0');
    expect(Object.is(parse(toJson(-0)), -0)).toBe(true);
  });

  it('writes numbers back as the client spelled them while they are in place (int64 beyond a double, 1.0, 1E3)', () => {
    const text = '{"Memory":9007199254740993,"MemorySwap":9223372036854775807,"NanoCpus":1.0,"CpuShares":1E3,"Ulimits":[{"Soft":-9223372036854775808,"Hard":12345678901234567891}],"A":[9007199254740993,1,2.50]}';
    expect(toJson(parse(text))).toBe(text);
    // A replaced value is written as set; a removed one takes its text with it.
    const v = parse(text) as GoObject;
    v.set('memory', 5);
    v.delete('NanoCpus');
    v.set('NanoCpus', 7);
    expect(toJson(v)).toBe('{"Memory":5,"MemorySwap":9223372036854775807,"CpuShares":1E3,"Ulimits":[{"Soft":-9223372036854775808,"Hard":12345678901234567891}],"A":[9007199254740993,1,2.50],"NanoCpus":7}');
    // An array element changed in place, or an array that changed length, is written from its values.
    const arr = (parse(text) as GoObject).get('A') as GoValue[];
    arr[0] = 3;
    expect(toJson(arr)).toBe('[3,1,2.50]');
    arr.unshift(9007199254740992);
    expect(toJson(arr)).toBe('[9007199254740992,3,1,2.5]');
    // A top-level number's text never leaks into the next parse.
    parse('9007199254740993');
    expect(toJson(parse('{"a":"x"}'))).toBe('{"a":"x"}');
  });

  it('refuses values that JSON cannot carry identically', () => {
    expect(() => toJson(NaN)).toThrow(GoJsonError);
    expect(() => toJson(Infinity)).toThrow(GoJsonError);
    expect(() => toJson('\ud800')).toThrow(/lone surrogate/);
    expect(() => toJson(new GoObject([['\udc00', 1]]))).toThrow(/lone surrogate/);
    expect(() => toJson(undefined as unknown as GoValue)).toThrow(GoJsonError);
  });

  it('serializes constructed objects', () => {
    const o = new GoObject([
      ['Image', 'alpine'],
      ['HostConfig', new GoObject([['Privileged', false], ['Binds', []]])],
      ['Cmd', ['sh', '-c', 'echo hi']],
      ['Tty', true],
      ['StopTimeout', null],
    ]);
    expect(toJson(o)).toBe(
      '{"Image":"alpine","HostConfig":{"Privileged":false,"Binds":[]},"Cmd":["sh","-c","echo hi"],"Tty":true,"StopTimeout":null}',
    );
  });
});

describe('randomized cross-check against JSON.parse', () => {
  it('random valid documents parse to JSON.parse\'s value and round-trip through toJson', () => {
    const rnd = mulberry32(42);
    for (let n = 0; n < 500; n++) {
      const value = randomValue(rnd, 0);
      const text = JSON.stringify(value, null, rnd() < 0.5 ? undefined : 1);
      const v = parse(text);
      // (stringify both sides: much faster than a deep toEqual in a loop)
      expect(JSON.stringify(plain(v))).toBe(JSON.stringify(JSON.parse(text)));
      expect(toJson(v)).toBe(JSON.stringify(value));
    }
  });

  it('mutated documents: whatever parseGoJson accepts, JSON.parse accepts with the same value', () => {
    const rnd = mulberry32(1234);
    const alphabet = bytes('{}[]",:\\/ \t\n0123456789-+.eEtrufalsn\u00e9');
    let accepted = 0;
    for (let n = 0; n < 3000; n++) {
      const base = bytes(JSON.stringify(randomValue(rnd, 0)));
      const b = new Uint8Array(base);
      const edits = 1 + Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) {
        const i = Math.floor(rnd() * b.length);
        b[i] = rnd() < 0.1 ? Math.floor(rnd() * 256) : alphabet[Math.floor(rnd() * alphabet.length)]!;
      }
      let v: GoValue;
      try {
        v = parseGoJson(b);
      } catch (e) {
        expect(e).toBeInstanceOf(GoJsonError);
        continue;
      }
      accepted++;
      const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b);
      expect(JSON.stringify(plain(v))).toBe(JSON.stringify(JSON.parse(text)));
    }
    expect(accepted).toBeGreaterThan(100);
  });
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomString(rnd: () => number): string {
  const pool = ['a', 'B', 'z', '0', ' ', '"', '\\', '/', '\n', '\u0001', 'é', '€', '😀', 'ſ', '\u212a', '\u2028', 'key', 'Image'];
  let s = '';
  const len = Math.floor(rnd() * 8);
  for (let i = 0; i < len; i++) s += pool[Math.floor(rnd() * pool.length)];
  return s;
}

function randomValue(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth > 4 || r < 0.35) {
    const k = Math.floor(rnd() * 6);
    if (k === 0) return null;
    if (k === 1) return rnd() < 0.5;
    if (k === 2) return Math.floor(rnd() * 2000) - 1000;
    if (k === 3) return (rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20);
    return randomString(rnd);
  }
  if (r < 0.65) {
    const n = Math.floor(rnd() * 5);
    return Array.from({ length: n }, () => randomValue(rnd, depth + 1));
  }
  const o: Record<string, unknown> = {};
  const folds = new Set<string>();
  const n = Math.floor(rnd() * 12);
  for (let i = 0; i < n; i++) {
    const k = randomString(rnd) + String(i % 3 === 0 ? '' : i);
    if (folds.has(foldKey(k)) || k === '__proto__') continue;
    folds.add(foldKey(k));
    o[k] = randomValue(rnd, depth + 1);
  }
  return o;
}
