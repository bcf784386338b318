//! The RIPE REST documents as one ordered tree, written as JSON or as RIPE's XML from the
//! same build: in XML a member holding a scalar is an XML attribute, a member holding an
//! object is a child element, a member holding a list repeats a child element; locators
//! (`link`, `terms-and-conditions`) carry `xlink:` attributes.

use std::borrow::Cow;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// A node of a document.
#[derive(Debug, Clone)]
pub enum Node<'a> {
    Obj(Vec<(&'static str, Node<'a>)>),
    List(Vec<Node<'a>>),
    /// Borrowed from the registry generation the request holds, where it can be.
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    /// `{"type":"locator","href":…}`.
    Locator(String),
}

impl<'a> Node<'a> {
    pub fn obj(members: Vec<(&'static str, Node<'a>)>) -> Node<'a> {
        Node::Obj(members)
    }

    pub fn str(s: impl Into<Cow<'a, str>>) -> Node<'a> {
        Node::Str(s.into())
    }

    /// `{"<name>": [items]}`: RIPE's wrapper around lists.
    pub fn wrap(name: &'static str, items: Vec<Node<'a>>) -> Node<'a> {
        Node::Obj(vec![(name, Node::List(items))])
    }

    pub fn json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Node::Obj(members) => {
                out.push(b'{');
                for (i, (name, node)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json_string(name, out);
                    out.push(b':');
                    node.write_json(out);
                }
                out.push(b'}');
            }
            Node::List(items) => {
                out.push(b'[');
                for (i, node) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    node.write_json(out);
                }
                out.push(b']');
            }
            Node::Str(s) => json_string(s, out),
            Node::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Node::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Node::Locator(href) => {
                out.extend_from_slice(b"{\"type\":\"locator\",\"href\":");
                json_string(href, out);
                out.push(b'}');
            }
        }
    }

    /// The document as XML with root element `root` (`whois-resources`).
    pub fn xml(&self, root: &str) -> Vec<u8> {
        let mut w = quick_xml::Writer::new(Vec::with_capacity(1024));
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .expect("writing to a Vec");
        let mut start = BytesStart::new(root);
        if root == "whois-resources" {
            start.push_attribute(("xmlns:xlink", "http://www.w3.org/1999/xlink"));
        }
        self.element(&mut w, start, root);
        w.into_inner()
    }

    fn element(&self, w: &mut quick_xml::Writer<Vec<u8>>, mut start: BytesStart<'_>, name: &str) {
        let write = |w: &mut quick_xml::Writer<Vec<u8>>, e: Event<'_>| {
            w.write_event(e).expect("writing to a Vec")
        };
        match self {
            Node::Locator(href) => {
                start.push_attribute(("xlink:type", "locator"));
                start.push_attribute(("xlink:href", href.as_str()));
                write(w, Event::Empty(start));
            }
            Node::Obj(members) => {
                let mut children = Vec::new();
                for (member, node) in members {
                    match node {
                        Node::Str(s) => start.push_attribute((*member, s.as_ref())),
                        Node::Int(n) => start.push_attribute((*member, n.to_string().as_str())),
                        Node::Bool(b) => {
                            start.push_attribute((*member, if *b { "true" } else { "false" }))
                        }
                        Node::List(items) if items.is_empty() => {}
                        _ => children.push((*member, node)),
                    }
                }
                if children.is_empty() {
                    write(w, Event::Empty(start));
                    return;
                }
                write(w, Event::Start(start));
                for (member, node) in children {
                    match node {
                        Node::List(items) => {
                            for item in items {
                                item.element(w, BytesStart::new(member), member);
                            }
                        }
                        other => other.element(w, BytesStart::new(member), member),
                    }
                }
                write(w, Event::End(BytesEnd::new(name)));
            }
            Node::List(items) => {
                write(w, Event::Start(start));
                for item in items {
                    item.element(w, BytesStart::new("item"), "item");
                }
                write(w, Event::End(BytesEnd::new(name)));
            }
            Node::Str(s) => {
                write(w, Event::Start(start));
                write(w, Event::Text(BytesText::new(s)));
                write(w, Event::End(BytesEnd::new(name)));
            }
            Node::Int(_) | Node::Bool(_) => {
                let text = match self {
                    Node::Int(n) => n.to_string(),
                    Node::Bool(b) => b.to_string(),
                    _ => unreachable!(),
                };
                write(w, Event::Start(start));
                write(w, Event::Text(BytesText::new(&text)));
                write(w, Event::End(BytesEnd::new(name)));
            }
        }
    }
}

/// A JSON string, escaped by serde_json (control characters, quotes, backslashes).
fn json_string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tree_two_shapes() {
        let doc = Node::obj(vec![
            ("service", Node::obj(vec![("name", Node::str("search"))])),
            (
                "objects",
                Node::wrap(
                    "object",
                    vec![Node::obj(vec![
                        ("type", Node::str("mntner")),
                        ("link", Node::Locator("https://x/test/mntner/A".into())),
                        ("version", Node::Int(2)),
                    ])],
                ),
            ),
            (
                "terms-and-conditions",
                Node::Locator("https://x/terms".into()),
            ),
        ]);
        assert_eq!(
            String::from_utf8(doc.json()).unwrap(),
            r#"{"service":{"name":"search"},"objects":{"object":[{"type":"mntner","link":{"type":"locator","href":"https://x/test/mntner/A"},"version":2}]},"terms-and-conditions":{"type":"locator","href":"https://x/terms"}}"#
        );
        let xml = String::from_utf8(doc.xml("whois-resources")).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><whois-resources xmlns:xlink=\"http://www.w3.org/1999/xlink\"><service name=\"search\"/><objects><object type=\"mntner\" version=\"2\"><link xlink:type=\"locator\" xlink:href=\"https://x/test/mntner/A\"/></object></objects><terms-and-conditions xlink:type=\"locator\" xlink:href=\"https://x/terms\"/></whois-resources>"
        );
        let escaped = Node::obj(vec![("value", Node::str("<script>\"&"))]).xml("x");
        assert!(String::from_utf8(escaped)
            .unwrap()
            .contains("value=\"&lt;script&gt;&quot;&amp;\""));
    }
}
