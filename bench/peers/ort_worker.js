// ort_worker.js: the ONNX Runtime peer of bench/ (npm's onnxruntime-node, CPU execution
// provider), speaking the protocol of bench/peers/peer.h on stdin/stdout.
//
//     NODE_PATH=DIR/node_modules node bench/peers/ort_worker.js MODELS_DIR
//
// The model is MODELS_DIR/NAME.onnx (torch.onnx.export of the same PyTorch module, opset 13,
// batch axis dynamic). Session options, set explicitly: intraOpNumThreads = T,
// interOpNumThreads = 1, executionMode 'sequential', graphOptimizationLevel 'all'; the session
// is created again when the thread count changes. Each timed call is one `await
// session.run(feeds)` on an input ort.Tensor made once (a view of the input's memory), so the
// time includes the binding's per-call cost (the JS->native hop, the output tensor's
// creation); `overhead` measures that cost alone on a model that adds two 1-element tensors.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  ort = null;
}

const modelsDir = process.argv[2];
let session = null, key = '', feeds = null, inShape = null, inName = 'x';

// A two-node ONNX model (y = x + x, x of shape [1]) written by hand, to time the per-call cost
// of session.run with no work behind it. Built from the protobuf wire format directly so
// that no ONNX tooling is needed here.
function tinyModel() {
  const varint = (n) => { const b = []; do { let c = n & 0x7f; n >>>= 7; if (n) c |= 0x80; b.push(c); } while (n); return Buffer.from(b); };
  const field = (num, payload) => Buffer.concat([varint((num << 3) | 2), varint(payload.length), payload]);
  const str = (num, s) => field(num, Buffer.from(s));
  const int = (num, v) => Buffer.concat([varint(num << 3), varint(v)]);
  const valueInfo = (name) => {
    const dim = field(1, int(1, 1));                       // TensorShapeProto.Dimension dim_value 1
    const shape = field(2, dim);                           // TypeProto.Tensor.shape
    const tensorType = field(1, Buffer.concat([int(1, 1), shape])); // elem_type FLOAT
    return Buffer.concat([str(1, name), field(2, tensorType)]);
  };
  const node = Buffer.concat([str(1, 'x'), str(1, 'x'), str(2, 'y'), str(4, 'Add')]);
  const graph = Buffer.concat([field(1, node), str(2, 'tiny'), field(11, valueInfo('x')),
                               field(12, valueInfo('y'))]);
  const opset = int(2, 13);
  return Buffer.concat([int(1, 7), field(8, opset), field(7, graph)]); // ir_version 7
}

function options(threads) {
  return {intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
          graphOptimizationLevel: 'all', executionProviders: ['cpu']};
}

async function handle(parts) {
  const cmd = parts[0];
  if (cmd === 'info') {
    if (!ort) throw new Error('onnxruntime-node is not installed');
    const v = (ort.env.versions && ort.env.versions.node) || '?';
    return `ONNX Runtime | onnxruntime-node ${v} (CPU EP), node ${process.versions.node} | ` +
           `intraOpNumThreads=T, interOpNumThreads=1, executionMode=sequential, ` +
           `graphOptimizationLevel=all, spinning left at its default`;
  }
  if (cmd === 'load' && parts.length === 4) {
    const [name, batch, threads] = [parts[1], +parts[2], +parts[3]];
    if (key !== `${name}/${threads}`) {
      if (session) await session.release();
      session = await ort.InferenceSession.create(path.join(modelsDir, name + '.onnx'),
                                                  options(threads));
      key = `${name}/${threads}`;
      inName = session.inputNames[0];
    }
    const layers = fs.readFileSync(path.join(modelsDir, name + '.layers'), 'utf8').split('\n');
    inShape = [batch].concat(layers[0].split(/\s+/).slice(1).filter((s) => s).map(Number));
    feeds = null;
    return `threads_used=${threads}`;
  }
  if (cmd === 'run' && parts.length === 3) {
    const buf = fs.readFileSync(parts[1]);
    const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    if (data.length !== inShape.reduce((a, b) => a * b, 1))
      throw new Error(`${parts[1]}: ${data.length} floats, want [${inShape}]`);
    feeds = {[inName]: new ort.Tensor('float32', Float32Array.from(data), inShape)};
    const out = await session.run(feeds);
    const y = out[session.outputNames[0]].data;
    fs.writeFileSync(parts[2], Buffer.from(y.buffer, y.byteOffset, y.byteLength));
    return '';
  }
  if (cmd === 'time' && (parts.length === 2 || parts.length === 3) && feeds) {
    const n = +parts[1], warmup = parts.length === 3 ? +parts[2] : 0, t = [];
    for (let i = 0; i < warmup; i++) await session.run(feeds);
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      t.push(process.hrtime.bigint() - t0);
    }
    return t.join(' ');
  }
  if (cmd === 'overhead' && parts.length === 2) {
    // The per-call cost of the binding: session.run on y = x + x with one element.
    const s = await ort.InferenceSession.create(tinyModel(), options(1));
    const f = {x: new ort.Tensor('float32', Float32Array.from([1]), [1])};
    const n = +parts[1], t = [];
    for (let i = 0; i < 100; i++) await s.run(f);
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await s.run(f);
      t.push(process.hrtime.bigint() - t0);
    }
    await s.release();
    return t.join(' ');
  }
  throw new Error(`bad command '${parts.join(' ')}'`);
}

async function main() {
  const rl = readline.createInterface({input: process.stdin, terminal: false});
  for await (const line of rl) {
    const parts = line.trim().split(/\s+/);
    if (!parts[0]) continue;
    if (parts[0] === 'quit') break;
    try {
      const r = await handle(parts);
      process.stdout.write(('ok ' + r).trimEnd() + '\n');
    } catch (e) {
      process.stdout.write(`error ${String(e.message || e).replace(/\n/g, ' ')}\n`);
    }
  }
  if (session) await session.release();
}

main();
