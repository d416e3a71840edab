"""Language tags for manifests (pure): HLS LANGUAGE and DASH @lang take BCP 47 tags,
whose primary subtag is the two-letter ISO 639-1 code where one exists; containers
carry ISO 639-2 three-letter codes ("eng", and the bibliographic "fre" beside "fra").

The table below is ISO 639-2's list of the languages that have a 639-1 code
("alpha-2 alpha-3[/bibliographic] English name"), re-expressed from Debian's
iso-codes (iso_639-2.json). Other three-letter codes are valid BCP 47 as they are.
"""
from __future__ import annotations

import re

_TABLE = """
aa aar Afar
ab abk Abkhazian
ae ave Avestan
af afr Afrikaans
ak aka Akan
am amh Amharic
an arg Aragonese
ar ara Arabic
as asm Assamese
av ava Avaric
ay aym Aymara
az aze Azerbaijani
ba bak Bashkir
be bel Belarusian
bg bul Bulgarian
bh bih Bihari languages
bi bis Bislama
bm bam Bambara
bn ben Bengali
bo bod/tib Tibetan
br bre Breton
bs bos Bosnian
ca cat Catalan
ce che Chechen
ch cha Chamorro
co cos Corsican
cr cre Cree
cs ces/cze Czech
cu chu Church Slavic
cv chv Chuvash
cy cym/wel Welsh
da dan Danish
de deu/ger German
dv div Divehi
dz dzo Dzongkha
ee ewe Ewe
el ell/gre Greek, Modern (1453-)
en eng English
eo epo Esperanto
es spa Spanish
et est Estonian
eu eus/baq Basque
fa fas/per Persian
ff ful Fulah
fi fin Finnish
fj fij Fijian
fo fao Faroese
fr fra/fre French
fy fry Western Frisian
ga gle Irish
gd gla Gaelic
gl glg Galician
gn grn Guarani
gu guj Gujarati
gv glv Manx
ha hau Hausa
he heb Hebrew
hi hin Hindi
ho hmo Hiri Motu
hr hrv Croatian
ht hat Haitian
hu hun Hungarian
hy hye/arm Armenian
hz her Herero
ia ina Interlingua (International Auxiliary Language Association)
id ind Indonesian
ie ile Interlingue
ig ibo Igbo
ii iii Sichuan Yi
ik ipk Inupiaq
io ido Ido
is isl/ice Icelandic
it ita Italian
iu iku Inuktitut
ja jpn Japanese
jv jav Javanese
ka kat/geo Georgian
kg kon Kongo
ki kik Kikuyu
kj kua Kuanyama
kk kaz Kazakh
kl kal Kalaallisut
km khm Central Khmer
kn kan Kannada
ko kor Korean
kr kau Kanuri
ks kas Kashmiri
ku kur Kurdish
kv kom Komi
kw cor Cornish
ky kir Kirghiz
la lat Latin
lb ltz Luxembourgish
lg lug Ganda
li lim Limburgan
ln lin Lingala
lo lao Lao
lt lit Lithuanian
lu lub Luba-Katanga
lv lav Latvian
mg mlg Malagasy
mh mah Marshallese
mi mri/mao Maori
mk mkd/mac Macedonian
ml mal Malayalam
mn mon Mongolian
mr mar Marathi
ms msa/may Malay
mt mlt Maltese
my mya/bur Burmese
na nau Nauru
nb nob Bokmål, Norwegian
nd nde Ndebele, North
ne nep Nepali
ng ndo Ndonga
nl nld/dut Dutch
nn nno Norwegian Nynorsk
no nor Norwegian
nr nbl Ndebele, South
nv nav Navajo
ny nya Chichewa
oc oci Occitan (post 1500)
oj oji Ojibwa
om orm Oromo
or ori Oriya
os oss Ossetian
pa pan Panjabi
pi pli Pali
pl pol Polish
ps pus Pushto
pt por Portuguese
qu que Quechua
rm roh Romansh
rn run Rundi
ro ron/rum Romanian
ru rus Russian
rw kin Kinyarwanda
sa san Sanskrit
sc srd Sardinian
sd snd Sindhi
se sme Northern Sami
sg sag Sango
si sin Sinhala
sk slk/slo Slovak
sl slv Slovenian
sm smo Samoan
sn sna Shona
so som Somali
sq sqi/alb Albanian
sr srp Serbian
ss ssw Swati
st sot Sotho, Southern
su sun Sundanese
sv swe Swedish
sw swa Swahili
ta tam Tamil
te tel Telugu
tg tgk Tajik
th tha Thai
ti tir Tigrinya
tk tuk Turkmen
tl tgl Tagalog
tn tsn Tswana
to ton Tonga (Tonga Islands)
tr tur Turkish
ts tso Tsonga
tt tat Tatar
tw twi Twi
ty tah Tahitian
ug uig Uighur
uk ukr Ukrainian
ur urd Urdu
uz uzb Uzbek
ve ven Venda
vi vie Vietnamese
vo vol Volapük
wa wln Walloon
wo wol Wolof
xh xho Xhosa
yi yid Yiddish
yo yor Yoruba
za zha Zhuang
zh zho/chi Chinese
zu zul Zulu
"""

_BY_CODE: dict[str, tuple[str, str]] = {}
for _row in _TABLE.strip().splitlines():
    _two, _threes, _name = _row.split(" ", 2)
    for _code in (_two, *_threes.split("/")):
        _BY_CODE[_code] = (_two, _name)

_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
UNDETERMINED = {"und", "mis", "mul", "zxx", "qaa"}


def bcp47(code: str | None) -> str | None:
    """A container's language code as a BCP 47 tag ("fre" -> "fr", "en-US" kept);
    None for missing, undetermined or malformed codes (never put in a manifest as is)."""
    if not code or not _TAG.match(code.strip()):
        return None
    primary, _, rest = code.strip().partition("-")
    primary = primary.lower()
    if primary in UNDETERMINED:
        return None
    two = _BY_CODE.get(primary, (primary, ""))[0]
    return two + ("-" + rest if rest else "")


def language_name(tag: str | None) -> str | None:
    """English name of a tag's language ("fr" -> "French"), None when unknown."""
    if not tag:
        return None
    hit = _BY_CODE.get(tag.split("-")[0].lower())
    return hit[1] if hit else None
