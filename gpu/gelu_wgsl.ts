// GELU (GPT-2's tanh form) and its derivative, for f32 and vec4 (WGSL has
// no overloads), written through the logistic function: with
// u = sqrt(2/pi) (x + 0.044715 x^3) and s = 1 / (1 + exp(-2u)),
//   0.5 (1 + tanh(u)) = s,  1 - tanh(u)^2 = 4 s (1 - s),
// so gelu(x) = x s and gelu'(x) = s + 2 x s (1 - s) du/dx: the same
// function as the tanh form, with one exp and one division, about half the
// cost of tanh on llvmpipe (it is applied on every load of the operand).
// exp overflows to +inf for very negative x, which gives s = 0: no NaN.
export const GELU_WGSL = [1, 4].map((w) => {
  const t = w === 1 ? "f32" : "vec4<f32>";
  return `fn geluSigma${w}(x: ${t}) -> ${t} {
  return 1.0 / (1.0 + exp(-1.5957691216057308 * (x + 0.044715 * x * x * x)));
}
fn gelu${w}(x: ${t}) -> ${t} {
  return x * geluSigma${w}(x);
}
fn geluGrad${w}(x: ${t}) -> ${t} {
  let s = geluSigma${w}(x);
  return s + 1.5957691216057308 * x * s * (1.0 - s) * (1.0 + 0.134145 * x * x);
}`;
}).join("\n");
