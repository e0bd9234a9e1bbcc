// typedoc plugin for `npm run docs:api`: leaves out of the API reference the generated ONNX protobuf classes that
// src/onnx re-exports as `onnxProto` (thousands of lines of protobufjs output, documented by ONNX itself).
import { Converter } from 'typedoc';

const HIDDEN = new Set(['onnxProto']);

export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const reflection of [...(context.project.children ?? [])]) {
      if (HIDDEN.has(reflection.name)) context.project.removeReflection(reflection);
    }
  });
}
