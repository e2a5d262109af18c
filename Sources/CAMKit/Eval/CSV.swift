/// RFC 4180 CSV, strictly: fields separated by commas, records by LF or
/// CRLF, a field may be quoted ("..." with "" for a quote, commas and line
/// breaks inside). A pure function over text, so it can be fuzzed.
enum CSV {
    struct Record: Equatable {
        var fields: [String]
        /// 1-based line on which the record starts.
        var line: Int
        /// False for a last record that the text ends inside (no line break
        /// after it): a file cut short while being written.
        var terminated: Bool
    }

    /// The records of `text`; blank lines are not records. Throws on a quote
    /// that is never closed or text glued to a closing quote, naming `name`
    /// and the line.
    static func records(_ text: String, name: String) throws(CAMError) -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1, recordLine = 1
        var inQuotes = false, wasQuoted = false, afterQuote = false
        var wasQuotedRecord = false      // a record of one quoted empty field is a record, a blank line is not
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }   // a UTF-8 byte order mark
        var i = 0

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            wasQuoted = false
            afterQuote = false
        }
        func endRecord(terminated: Bool) {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty && !wasQuotedRecord) {
                records.append(Record(fields: fields, line: recordLine, terminated: terminated))
            }
            fields.removeAll()
            wasQuotedRecord = false
        }

        while i < bytes.count {
            let b = bytes[i]
            if inQuotes {
                if b == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\"") { field.append(b); i += 2; continue }
                    inQuotes = false
                    afterQuote = true
                } else {
                    if b == UInt8(ascii: "\n") { line += 1 }
                    field.append(b)
                }
                i += 1
                continue
            }
            switch b {
            case UInt8(ascii: ","):
                endField()
            case UInt8(ascii: "\n"):
                endRecord(terminated: true)
                line += 1
                recordLine = line
            case UInt8(ascii: "\r") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\n"):
                break   // the LF ends the record
            case UInt8(ascii: "\""):
                guard field.isEmpty, !wasQuoted else {
                    throw CAMError(.format, "\(name):\(line): a quote inside an unquoted field (quote the whole field and double the quote)")
                }
                inQuotes = true
                wasQuoted = true
                wasQuotedRecord = true
            default:
                if afterQuote {
                    throw CAMError(.format, "\(name):\(line): text after the closing quote of a field")
                }
                field.append(b)
            }
            i += 1
        }
        if inQuotes { throw CAMError(.format, "\(name):\(recordLine): a quoted field is never closed") }
        if !field.isEmpty || !fields.isEmpty || wasQuoted { endRecord(terminated: false) }
        return records
    }

    /// One field for writing: quoted when it holds a comma, quote or line break.
    static func escape(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacing("\"", with: "\"\"") + "\""
    }
}
