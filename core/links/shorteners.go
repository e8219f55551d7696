package links

// shorteners are link-shortening services: the destination is hidden.
var shorteners = map[string]bool{
	"bit.ly": true, "tinyurl.com": true, "t.co": true, "goo.gl": true, "ow.ly": true,
	"is.gd": true, "buff.ly": true, "rebrand.ly": true, "cutt.ly": true, "shorturl.at": true,
	"tiny.cc": true, "rb.gy": true, "t.ly": true, "s.id": true, "bl.ink": true, "lnkd.in": true,
	"amzn.to": true, "fb.me": true, "wp.me": true, "dlvr.it": true, "trib.al": true,
	"v.gd": true, "qr.ae": true, "shorte.st": true, "adf.ly": true, "bitly.com": true,
	"tiny.one": true, "short.io": true, "clck.ru": true, "u.to": true, "x.gd": true,
	"soo.gd": true, "mcaf.ee": true, "ift.tt": true, "onelink.me": true, "linktr.ee": true,
	"surl.li": true, "shorturl.com": true, "2u.pm": true, "tinu.be": true,
}
