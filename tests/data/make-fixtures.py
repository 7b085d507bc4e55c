import base64
def w(name, text, enc='utf-8', crlf=False):
    data = text.encode(enc) if isinstance(text, str) else text
    if crlf: data = data.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    open(name, 'wb').write(data)
def b64(b): return base64.encodebytes(b).decode()
H = lambda mid, subj, extra='': f"From: Alice <alice@sender.test>\nTo: Jo <jo@example.org>\nSubject: {subj}\nMessage-ID: <{mid}>\nDate: Sun, 22 Nov 2026 10:00:00 +0100\nMIME-Version: 1.0\n{extra}"
pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
png = bytes.fromhex('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201e2a1a35a0000000049454e44ae426082')
tnef = b'x\x9f>"' + bytes(range(64))
w('multipart-mixed.eml', H('mixed@sender.test','Quarterly report','Content-Type: multipart/mixed; boundary="b1"\n') +
  f"\n--b1\nContent-Type: text/plain; charset=us-ascii\n\nThe report is attached.\n--b1\nContent-Type: application/pdf; name=\"report.pdf\"\nContent-Disposition: attachment; filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n{b64(pdf)}--b1\nContent-Type: image/png\nContent-Disposition: attachment; filename=\"chart.png\"\nContent-Transfer-Encoding: base64\n\n{b64(png)}--b1--\n")
w('multipart-alternative.eml', H('alt@sender.test','Plain and HTML','Content-Type: multipart/alternative; boundary="alt"\n') +
  "\n--alt\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nCaf=C3=A9 at noon?\n--alt\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>Caf\u00e9 at noon?</p></body></html>\n--alt--\n")
w('multipart-related.eml', H('rel@sender.test','With an inline logo','Content-Type: multipart/related; boundary="rel"; type="text/html"\n') +
  f"\n--rel\nContent-Type: text/html; charset=us-ascii\n\n<img src=\"cid:logo@sender.test\">\n--rel\nContent-Type: image/png\nContent-ID: <logo@sender.test>\nContent-Disposition: inline\nContent-Transfer-Encoding: base64\n\n{b64(png)}--rel--\n")
w('multipart-signed.eml', H('signed@sender.test','Signed','Content-Type: multipart/signed; boundary="sig"; micalg=pgp-sha256; protocol="application/pgp-signature"\n') +
  "\n--sig\nContent-Type: text/plain; charset=us-ascii\n\nSigned text.\n--sig\nContent-Type: application/pgp-signature; name=\"signature.asc\"\n\n-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n--sig--\n")
inner = "From: Bob <bob@other.test>\nTo: alice@sender.test\nSubject: The original\nMessage-ID: <inner@other.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"in\"\n\n--in\nContent-Type: text/plain\n\nOriginal text.\n--in\nContent-Type: text/csv; name=data.csv\nContent-Disposition: attachment; filename=data.csv\n\na,b\n1,2\n--in--\n"
w('nested-rfc822.eml', H('fwd@sender.test','Fwd: The original','Content-Type: multipart/mixed; boundary="out"\n') +
  f"\n--out\nContent-Type: text/plain\n\nSee below.\n--out\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n{inner}\n--out--\n")
import binascii
uu = "begin 644 hello.txt\n" + binascii.b2a_uu(b"hello, world!\n", backtick=True).decode() + "`\nend\n"
w('uuencode-in-text.eml', H('uu@sender.test','Old client').replace('MIME-Version: 1.0\n','') + f"\nHere is the file:\n\n{uu}\nBye.\n")
w('tnef-winmail.eml', H('tnef@sender.test','From Outlook','Content-Type: multipart/mixed; boundary="t"\n') +
  f"\n--t\nContent-Type: text/plain\n\nSee attached.\n--t\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\nContent-Disposition: attachment; filename=\"winmail.dat\"\nContent-Transfer-Encoding: base64\n\n{b64(tnef)}--t--\n")
ru = "Привет, мир! Отчёт готов."
for cs, fname in (('koi8-r','charset-koi8-r.eml'), ('windows-1251','charset-windows-1251.eml')):
    subj = '=?%s?B?%s?=' % (cs, base64.b64encode('Отчёт'.encode(cs)).decode())
    head = H(f'{cs}@sender.test', subj, f'Content-Type: text/plain; charset={cs}\nContent-Transfer-Encoding: 8bit\n') + '\n'
    open(fname,'wb').write(head.encode() + ru.encode(cs) + b'\n')
zh = "你好，世界。报告已准备好。"
subj = '=?gb2312?B?%s?=' % base64.b64encode('报告'.encode('gb2312')).decode()
open('charset-gb2312.eml','wb').write((H('gb@sender.test', subj, 'Content-Type: text/plain; charset=gb2312\nContent-Transfer-Encoding: base64\n') + '\n' + b64(zh.encode('gb2312'))).encode())
ja = "こんにちは、世界。報告書です。"
subj = '=?ISO-2022-JP?B?%s?=' % base64.b64encode('報告書'.encode('iso-2022-jp')).decode()
open('charset-iso-2022-jp.eml','wb').write((H('jp@sender.test', subj, 'Content-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n') + '\n').encode() + ja.encode('iso-2022-jp') + b'\n')
w('rfc2231-names.eml', H('names@sender.test','Names','Content-Type: multipart/mixed; boundary="n"\n') +
  "\n--n\nContent-Type: text/plain\n\nThree names.\n--n\nContent-Type: application/octet-stream\nContent-Disposition: attachment;\n filename*0*=utf-8''%E6%97%A5%E6%9C%AC%E8%AA%9E%20;\n filename*1*=%E3%81%AE%E5%A0%B1%E5%91%8A.pdf\n\nAAAA\n--n\nContent-Type: application/octet-stream; name=\"=?utf-8?B?w4RyZ2VyLmRvY3g=?=\"\nContent-Disposition: attachment; filename=\"=?utf-8?B?w4RyZ2VyLmRvY3g=?=\"\n\nBBBB\n--n\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"r\xe9sum\xe9.txt\"\n\nCCCC\n--n--\n", enc='latin-1')
w('hostile-names.eml', H('hostile@sender.test','Hostile names','Content-Type: multipart/mixed; boundary="h"\n') +
  "\n--h\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\n\nroot:x:0:0\n--h\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\".htaccess\"\n\nDeny from all\n--h\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"" + "A"*300 + ".exe\"\n\nMZ\n--h--\n")
w('missing-boundary.eml', H('nob@sender.test','No boundary','Content-Type: multipart/mixed\n') + "\n--x\nContent-Type: text/plain\n\nlost?\n--x--\n")
w('truncated-multipart.eml', H('trunc@sender.test','Cut short','Content-Type: multipart/mixed; boundary="c"\n') + "\n--c\nContent-Type: text/plain\n\nfirst part\n--c\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\nJVBER")
w('no-message-id.eml', "From: a@sender.test\nTo: jo@example.org\nSubject: No id\n\nNo Message-ID here.\n")
w('crlf.eml', H('crlf@sender.test','CRLF line ends','Content-Type: multipart/mixed; boundary="r"\n') + "\n--r\nContent-Type: text/plain\n\nline one\nline two\n--r\nContent-Type: text/plain; name=n.txt\nContent-Disposition: attachment; filename=n.txt\n\nattached\n--r--\n", crlf=True)
open('nul-bytes.eml','wb').write((H('nul@sender.test','NUL bytes','Content-Type: text/plain; charset=us-ascii\n') + '\n').encode() + b'before\x00after\x00\x00end\n')
open('undeclared-8bit.eml','wb').write(b"From: Ren\xe9 <rene@sender.test>\nTo: jo@example.org\nSubject: Caf\xe9 cr\xe8me\nMessage-ID: <8bit@sender.test>\nContent-Type: text/plain\n\nUne cr\xe8me br\xfbl\xe9e, s'il vous pla\xeet.\n")
open('mislabelled-utf8.eml','wb').write(b"From: a@sender.test\nTo: jo@example.org\nSubject: =?us-ascii?Q?ok?=\nMessage-ID: <mislabel@sender.test>\nContent-Type: text/plain; charset=us-ascii\n\nStra\xc3\x9fe \xe2\x82\xac 5\n")
w('broken-rfc2047.eml', "From: =?utf-8?Q?M=C3=BCller?=<m@sender.test>\nTo: jo@example.org\nSubject: =?utf-8?B?w4Rw?==?utf-8?B?ZmVs?= =?unknown-8bit?Q?caf=E9?= =?utf-8?Q?broken\nMessage-ID: <b2047@sender.test>\n\nbody\n")
w('from-line.eml', "From alice@sender.test Sun Nov 22 10:00:00 2026\n" + H('fromline@sender.test','With a From_ line') + "\nBody.\n")
# issue 14: fidelity of the splitter, one message per defect
w('b64-unpadded.eml', H('unpadded@sender.test','Unpadded','Content-Type: multipart/mixed; boundary="u"\n') +
  "\n--u\nContent-Type: text/plain\n\nTwo files.\n--u\nContent-Type: application/octet-stream; name=hello.bin\nContent-Transfer-Encoding: base64\n\naGVsbG8\n--u\nContent-Type: application/octet-stream; name=two.bin\nContent-Transfer-Encoding: base64\n\naGVsbG8s\nIHdvcmxk\n--u--\n")
open('boundary-line-ends.eml','wb').write(H('ends@sender.test','Line ends','Content-Type: multipart/mixed; boundary="e"\n').encode() +
  b"\n--e\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--e\nContent-Type: application/octet-stream; name=raw.txt\n\nZWg=\n--e\nContent-Type: text/plain; name=lines.txt\n\none\ntwo\r\n\r\n--e\r\nContent-Type: application/octet-stream; name=cr.bin\nContent-Transfer-Encoding: base64\n\nZWg=\r\n--e--\r\n")
w('from-line-body.eml', "From alice@sender.test Mon Jan  1 00:00:00 2024\n" + H('frombody@sender.test','A patch','Content-Type: multipart/mixed; boundary="p"\n') +
  "\n--p\nContent-Type: text/plain\n\nThe patch below.\nFrom here on, the patch:\nthanks\n--p\nContent-Type: text/x-patch; name=fix.patch\nContent-Disposition: attachment; filename=fix.patch\n\n--- a/x\n+++ b/x\nFrom the top\n--p--\n")
w('leading-blank.eml', "   \n\t\n" + H('blank@sender.test','Leading blanks','Content-Type: multipart/mixed; boundary="l"\n') +
  "\n--l\nContent-Type: text/plain\n\nHello.\n--l\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--l--\n")
w('two-content-types.eml', H('twoct@sender.test','Two types','Content-Type: multipart/mixed; boundary="real"\nX-Mailer: odd\nContent-Type: multipart/mixed; boundary="nowhere"\n') +
  "\nA preamble.\n--real\nContent-Type: text/plain\n\nThe visible text.\n--real\nContent-Type: application/pdf; name=b.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--real--\n")
w('part-no-blank.eml', H('noblank@sender.test','Zip','Content-Type: multipart/mixed; boundary="z"\n') +
  "\n--z\nContent-Type: text/plain\n\nThe zip.\n--z\nContent-Type: application/zip; name=a.zip\nContent-Transfer-Encoding: base64\nUEsDBAoAAAAAAA==\nUEsFBgAAAAA=\n--z--\n")
w('type-no-subtype.eml', H('nosub@sender.test','No subtype','Content-Type: multipart/mixed; boundary="s"\n') +
  "\n--s\nContent-Type: text/plain\n\nA PDF.\n--s\nContent-Type: application; name=\"x.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--s--\n")
open('attachment-charset.eml','wb').write(H('attcs@sender.test','Attachments as sent','Content-Type: multipart/mixed; boundary="a"\n').encode() +
  b"\n--a\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\nCr\xe8me.\n--a\nContent-Type: text/plain; charset=iso-8859-1; name=notes.txt\nContent-Transfer-Encoding: 8bit\n\nNot\xe9s.\n--a\nContent-Type: text/rtf\nContent-Disposition: attachment; filename=chart.png\nContent-Transfer-Encoding: base64\n\n" + b64(png).encode() +
  b"--a\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b64(b"\xff\xfe\x00a\x00b\x00").encode() + b"--a--\n")
# yEnc blocks in a text and a BinHex 4.0 part (issue 14, beyond the anchors)
import zlib
def yenc(name, data, crc=None):
    out, line = [], b''
    for b in data:
        c = (b + 42) % 256
        line += bytes([61, (c + 64) % 256]) if c in (0, 9, 10, 13, 32, 46, 61) else bytes([c])
        if len(line) >= 64: out.append(line); line = b''
    if line: out.append(line)
    crc = crc if crc is not None else zlib.crc32(data)
    return (b'=ybegin line=64 size=%d name=%s\r\n' % (len(data), name.encode()) +
            b'\r\n'.join(out) + b'\r\n=yend size=%d crc32=%08x\r\n' % (len(data), crc))
yfile = bytes(range(256)) * 2
open('yenc-in-text.eml','wb').write(H('yenc@sender.test','Binaries').encode() +
  b'Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\nTwo files:\n' +
  yenc('all bytes.bin', yfile) + b'and a damaged one:\n' + yenc('bad.bin', b'damaged', crc=0x12345678) + b'Bye.\n')
def crc16(data, crc=0):
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xffff
    return crc
def binhex(name, data):
    import struct
    hdr = bytes([len(name)]) + name.encode() + b'\0' + b'TEXTMDIR' + b'\0\0' + struct.pack('>II', len(data), 0)
    body = hdr + struct.pack('>H', crc16(hdr + b'\0\0')) + data + struct.pack('>H', crc16(data + b'\0\0')) + b'\0\0'
    rle = body.replace(b'\x90', b'\x90\x00').replace(b'aaaaaaaa', b'a\x90\x08')
    alpha = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"
    bits, n, enc = 0, 0, ''
    for b in rle:
        bits = bits << 8 | b; n += 8
        while n >= 6:
            n -= 6; enc += alpha[(bits >> n) & 63]
    if n: enc += alpha[(bits << (6 - n)) & 63]
    enc = ':' + enc + ':'
    return '(This file must be converted with BinHex 4.0)\n' + '\n'.join(enc[i:i+64] for i in range(0, len(enc), 64)) + '\n'
w('binhex.eml', H('binhex@sender.test','From a Mac','Content-Type: multipart/mixed; boundary="h"\n') +
  "\n--h\nContent-Type: text/plain\n\nA file.\n--h\nContent-Type: application/mac-binhex40; name=\"notes.hqx\"\n\n" +
  binhex('notes.txt', b'Notes from a Mac\r\x90\x90\x90 aaaaaaaa and more\r') + "--h--\n")
w('missing-boundary-from.eml', H('nobound@sender.test','No boundary','Content-Type: multipart/mixed; boundary="gone"\n') +
  "\nFrom here on, no part.\n")
