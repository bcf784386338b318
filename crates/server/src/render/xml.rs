//! JSON answers as XML: objects become elements named after their members, arrays repeat an
//! `item` element, scalars become text. Member names come from our own schemas (safe XML
//! names); text is escaped by quick-xml.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde_json::Value;

/// `<root>…</root>` for `value`, with an XML declaration.
pub fn to_xml(root: &str, value: &Value) -> Vec<u8> {
    let mut writer = Writer::new(Vec::with_capacity(1024));
    writer
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .expect("writing to a Vec");
    element(&mut writer, root, value);
    writer.into_inner()
}

fn element(writer: &mut Writer<Vec<u8>>, name: &str, value: &Value) {
    let write = |writer: &mut Writer<Vec<u8>>, event: Event<'_>| {
        writer.write_event(event).expect("writing to a Vec")
    };
    write(writer, Event::Start(BytesStart::new(name)));
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| element(writer, k, v)),
        Value::Array(items) => items.iter().for_each(|v| element(writer, "item", v)),
        Value::String(s) => write(writer, Event::Text(BytesText::new(s))),
        Value::Null => {}
        other => write(writer, Event::Text(BytesText::new(&other.to_string()))),
    }
    write(writer, Event::End(BytesEnd::new(name)));
}
