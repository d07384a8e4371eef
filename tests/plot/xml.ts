// A tiny XML well-formedness checker for tests (Deno has no DOMParser): one
// root element, balanced and properly nested tags, quoted and unique
// attributes, and `&` only in entity references. Throws on the first fault.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  /** Text directly inside the element, entities decoded. */
  text: string;
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/g;

function decode(s: string, where: number): string {
  const stripped = s.replace(ENTITY, "");
  if (stripped.includes("&")) throw new Error(`bare & near offset ${where}`);
  if (stripped.includes("<")) throw new Error(`< in text or attribute near offset ${where}`);
  return s.replace(
    ENTITY,
    (e) =>
      ({ "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'" } as Record<
        string,
        string
      >)[e] ??
        String.fromCodePoint(Number(e.startsWith("&#x") ? "0x" + e.slice(3, -1) : e.slice(2, -1))),
  );
}

/** Checks well-formedness and returns every element in document order. */
export function parseXml(doc: string): XmlElement[] {
  const elements: XmlElement[] = [];
  const stack: XmlElement[] = [];
  let i = 0, roots = 0;
  if (doc.startsWith("<?xml")) {
    const end = doc.indexOf("?>");
    if (end < 0) throw new Error("unterminated XML declaration");
    i = end + 2;
  }
  while (i < doc.length) {
    const lt = doc.indexOf("<", i);
    const text = doc.slice(i, lt < 0 ? doc.length : lt);
    if (stack.length) stack[stack.length - 1].text += decode(text, i);
    else if (text.trim() !== "") throw new Error(`text outside the root at ${i}`);
    if (lt < 0) break;
    i = lt;
    if (doc.startsWith("<!--", i)) {
      const end = doc.indexOf("-->", i + 4);
      if (end < 0) throw new Error(`unterminated comment at ${i}`);
      i = end + 3;
    } else if (doc.startsWith("<![CDATA[", i)) {
      if (!stack.length) throw new Error(`CDATA outside the root at ${i}`);
      const end = doc.indexOf("]]>", i);
      if (end < 0) throw new Error(`unterminated CDATA at ${i}`);
      stack[stack.length - 1].text += doc.slice(i + 9, end);
      i = end + 3;
    } else if (doc.startsWith("</", i)) {
      const name = NAME.exec(doc.slice(i + 2))?.[0];
      if (!name) throw new Error(`bad end tag at ${i}`);
      i += 2 + name.length;
      while (/\s/.test(doc[i])) i++;
      if (doc[i] !== ">") throw new Error(`bad end tag </${name} at ${i}`);
      i++;
      const open = stack.pop();
      if (!open || open.name !== name) {
        throw new Error(`</${name}> closes <${open?.name ?? "nothing"}> at ${i}`);
      }
    } else {
      const name = NAME.exec(doc.slice(i + 1))?.[0];
      if (!name) throw new Error(`bad start tag at ${i}`);
      i += 1 + name.length;
      const el: XmlElement = { name, attrs: {}, text: "" };
      for (;;) {
        const ws = /^\s*/.exec(doc.slice(i))![0].length;
        i += ws;
        if (doc.startsWith("/>", i) || doc[i] === ">") break;
        if (ws === 0) throw new Error(`missing space before attribute in <${name}> at ${i}`);
        const attr = NAME.exec(doc.slice(i))?.[0];
        if (!attr) throw new Error(`bad attribute in <${name}> at ${i}`);
        i += attr.length;
        const m = /^\s*=\s*(["'])/.exec(doc.slice(i));
        if (!m) throw new Error(`attribute ${attr} of <${name}> is not quoted at ${i}`);
        i += m[0].length;
        const end = doc.indexOf(m[1], i);
        if (end < 0) throw new Error(`unterminated attribute ${attr} at ${i}`);
        if (attr in el.attrs) throw new Error(`duplicate attribute ${attr} in <${name}>`);
        el.attrs[attr] = decode(doc.slice(i, end), i);
        i = end + 1;
      }
      if (!stack.length) {
        if (++roots > 1) throw new Error(`second root element <${name}> at ${i}`);
      }
      elements.push(el);
      if (doc.startsWith("/>", i)) {
        i += 2;
      } else {
        i += 1;
        stack.push(el);
      }
    }
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  if (roots !== 1) throw new Error("no root element");
  return elements;
}
