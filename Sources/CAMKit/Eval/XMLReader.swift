/// A tiny, strict XML reader for annotation files (PASCAL VOC, ImageNet):
/// elements, attributes, text, comments, CDATA, processing instructions and
/// the five predefined entities plus character references. No DTDs (a
/// DOCTYPE is refused, so no entity expansion), no namespaces beyond taking
/// `a:b` as a name. Anything malformed is an error naming the line.
/// A pure function over bytes, iterative (no recursion), so it can be fuzzed.
struct XMLElement: Equatable {
    var name: String
    var attributes: [String: String] = [:]
    var children: [XMLElement] = []
    /// The element's text (for elements without child elements); CDATA included.
    var text: String = ""
    /// 1-based line of the start tag.
    var line: Int

    /// The first child element named `name`.
    func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    func children(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
}

enum XMLReader {
    static let maxDepth = 64

    static func parse(_ bytes: [UInt8], name: String) throws(CAMError) -> XMLElement {
        var p = Parser(bytes: bytes, name: name)
        return try p.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        let name: String
        var i = 0
        var line = 1

        init(bytes: [UInt8], name: String) {
            self.bytes = bytes
            self.name = name
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        }

        func fail(_ what: String) -> CAMError { CAMError(.format, "\(name):\(line): malformed XML: \(what)") }

        var atEnd: Bool { i >= bytes.count }
        func peek(_ s: String) -> Bool { bytes[i...].starts(with: s.utf8) }

        mutating func advance(_ n: Int = 1) {
            for _ in 0..<n where i < bytes.count {
                if bytes[i] == UInt8(ascii: "\n") { line += 1 }
                i += 1
            }
        }

        mutating func expect(_ s: String) throws(CAMError) {
            guard peek(s) else { throw fail("expected '\(s)'") }
            advance(s.utf8.count)
        }

        /// Skips to just past `terminator`, returning what came before it.
        mutating func until(_ terminator: String, what: String) throws(CAMError) -> [UInt8] {
            let start = i
            while !atEnd {
                if peek(terminator) {
                    let body = Array(bytes[start..<i])
                    advance(terminator.utf8.count)
                    return body
                }
                advance()
            }
            throw fail("\(what) is never closed")
        }

        static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        static func isNameByte(_ b: UInt8, first: Bool) -> Bool {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"), UInt8(ascii: ":"), 0x80...0xFF:
                return true
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."):
                return !first
            default:
                return false
            }
        }

        mutating func skipSpace() { while !atEnd && Parser.isSpace(bytes[i]) { advance() } }

        mutating func readName() throws(CAMError) -> String {
            let start = i
            while !atEnd && Parser.isNameByte(bytes[i], first: i == start) { advance() }
            guard i > start else { throw fail(atEnd ? "the file ends inside a tag" : "expected a name, found '\(Character(Unicode.Scalar(bytes[i])))'") }
            return try utf8(bytes[start..<i])
        }

        func utf8(_ slice: ArraySlice<UInt8>) throws(CAMError) -> String {
            guard let s = String(validating: slice, as: UTF8.self) else { throw fail("invalid UTF-8") }
            return s
        }

        /// Text with entity and character references replaced.
        func decode(_ raw: [UInt8]) throws(CAMError) -> String {
            var out: [UInt8] = []
            var k = 0
            while k < raw.count {
                let b = raw[k]
                if b == UInt8(ascii: "<") { throw fail("'<' in text or an attribute value") }
                guard b == UInt8(ascii: "&") else { out.append(b); k += 1; continue }
                guard let semi = raw[k...].firstIndex(of: UInt8(ascii: ";")), semi - k <= 12 else { throw fail("'&' that starts no entity (write &amp;)") }
                let entity = String(decoding: raw[(k + 1)..<semi], as: UTF8.self)
                switch entity {
                case "lt": out.append(UInt8(ascii: "<"))
                case "gt": out.append(UInt8(ascii: ">"))
                case "amp": out.append(UInt8(ascii: "&"))
                case "quot": out.append(UInt8(ascii: "\""))
                case "apos": out.append(UInt8(ascii: "'"))
                default:
                    var value: UInt32?
                    if entity.hasPrefix("#x") { value = UInt32(entity.dropFirst(2), radix: 16) }
                    else if entity.hasPrefix("#") { value = UInt32(entity.dropFirst(), radix: 10) }
                    guard let value, value != 0, let scalar = Unicode.Scalar(value) else { throw fail("unknown entity '&\(entity);'") }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                }
                k = semi + 1
            }
            return try utf8(out[...])
        }

        /// Comments, processing instructions and white space between elements.
        mutating func misc() throws(CAMError) {
            while true {
                skipSpace()
                if atEnd { return }
                if peek("<!--") { advance(4); _ = try until("-->", what: "a comment") }
                else if peek("<!DOCTYPE") || peek("<!doctype") { throw fail("DOCTYPE declarations are not supported") }
                else if peek("<?") { advance(2); _ = try until("?>", what: "a processing instruction") }
                else { return }
            }
        }

        mutating func document() throws(CAMError) -> XMLElement {
            try misc()
            guard !atEnd else { throw fail("no root element (the file is empty)") }
            guard peek("<") else { throw fail("text before the root element") }
            let root = try element()
            try misc()
            guard atEnd else { throw fail("content after the root element '\(root.name)'") }
            return root
        }

        struct Open { var element: XMLElement; var text: [UInt8] = [] }

        /// One element and everything inside it, with an explicit stack of
        /// the open elements.
        mutating func element() throws(CAMError) -> XMLElement {
            var stack: [Open] = []
            while true {
                if let open = stack.last {
                    // Inside an element: text, a comment, CDATA, a child or the end tag.
                    guard !atEnd else { throw fail("the file ends inside the element '\(open.element.name)' (line \(open.element.line))") }
                    if peek("<!--") { advance(4); _ = try until("-->", what: "a comment"); continue }
                    if peek("<![CDATA[") {
                        advance(9)
                        let body = try until("]]>", what: "a CDATA section")
                        // Escape it so that decoding gives the characters back.
                        for b in body {
                            switch b {
                            case UInt8(ascii: "&"): stack[stack.count - 1].text += Array("&amp;".utf8)
                            case UInt8(ascii: "<"): stack[stack.count - 1].text += Array("&lt;".utf8)
                            default: stack[stack.count - 1].text.append(b)
                            }
                        }
                        continue
                    }
                    if peek("<?") { advance(2); _ = try until("?>", what: "a processing instruction"); continue }
                    if peek("<!") { throw fail("unexpected '<!' inside '\(open.element.name)'") }
                    if peek("</") {
                        advance(2)
                        let closing = try readName()
                        skipSpace()
                        try expect(">")
                        let open = stack.removeLast()
                        guard closing == open.element.name else {
                            throw fail("'</\(closing)>' closes '<\(open.element.name)>' of line \(open.element.line)")
                        }
                        let done = try finish(open)
                        if stack.isEmpty { return done }
                        stack[stack.count - 1].element.children.append(done)
                        continue
                    }
                    if !peek("<") {
                        stack[stack.count - 1].text.append(bytes[i])
                        advance()
                        continue
                    }
                }
                let (e, selfClosing) = try startTag()
                if selfClosing {
                    let done = try finish(Open(element: e))
                    if stack.isEmpty { return done }
                    stack[stack.count - 1].element.children.append(done)
                } else {
                    guard stack.count < XMLReader.maxDepth else { throw fail("elements nested deeper than \(XMLReader.maxDepth)") }
                    stack.append(Open(element: e))
                }
            }
        }

        /// A start tag `<name attr="value" ...>` or `<name .../>`.
        mutating func startTag() throws(CAMError) -> (XMLElement, selfClosing: Bool) {
            try expect("<")
            var e = XMLElement(name: try readName(), line: line)
            while true {
                let hadSpace = !atEnd && Parser.isSpace(bytes[i])
                skipSpace()
                if atEnd { throw fail("the file ends inside the tag '\(e.name)'") }
                if peek("/>") { advance(2); return (e, true) }
                if peek(">") { advance(); return (e, false) }
                guard hadSpace else { throw fail("expected white space, '>' or '/>' in the tag '\(e.name)'") }
                let key = try readName()
                skipSpace()
                try expect("=")
                skipSpace()
                guard !atEnd, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "'") else {
                    throw fail("the value of attribute '\(key)' must be quoted")
                }
                let quote = bytes[i] == UInt8(ascii: "\"") ? "\"" : "'"
                advance()
                let value = try decode(try until(quote, what: "the value of attribute '\(key)'"))
                guard e.attributes[key] == nil else { throw fail("attribute '\(key)' appears twice in '\(e.name)'") }
                e.attributes[key] = value
            }
        }

        /// An element whose end tag has been read: its text decoded; text
        /// beside child elements must be white space.
        func finish(_ open: Open) throws(CAMError) -> XMLElement {
            var e = open.element
            if e.children.isEmpty {
                e.text = try decode(open.text)
            } else if !open.text.allSatisfy(Parser.isSpace) {
                throw fail("text mixed with child elements in '\(e.name)' (line \(e.line))")
            }
            return e
        }
    }
}
