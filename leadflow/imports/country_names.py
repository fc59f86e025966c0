"""Country names an import reads in a country column: each country's name in English, German,
French, Spanish, Italian and Dutch, normalised as column names are (``mapping.normalise_header``:
lower case, letters and digits only), by ISO code.

Taken from phonenumbers' locale data (``phonenumbers.geodata.locale``), which holds every
country's name in every language: loading it takes a process well over 100 MB, for good; here
these 900-odd names take kilobytes. A name two countries share goes to the first in
phonenumbers' order. ``tests/imports/test_country_names.py`` checks this table against the
locale data of the installed phonenumbers and prints the table anew when they differ."""

from __future__ import annotations

# ISO code -> its names, space-separated (a normalised name holds no spaces).
NAMES_BY_CODE: dict[str, str] = {
    "AD": "andorra andorre",
    "AE": (
        "unitedarabemirates vereinigtearabischeemirate emiratsarabesunis emiratosrabesunidos "
        "emiratiarabiuniti verenigdearabischeemiraten"
    ),
    "AF": "afghanistan afganistn",
    "AG": (
        "antiguaandbarbuda antiguaundbarbuda antiguaetbarbuda antiguaybarbuda antiguaebarbuda "
        "antiguaenbarbuda"
    ),
    "AI": "anguilla anguila",
    "AL": "albania albanien albanie albani",
    "AM": "armenia armenien armnie armeni",
    "AN": (
        "netherlandsantilles niederlndischeantillen antillesnerlandaises antillasholandesas "
        "antilleolandesi nederlandseantillen"
    ),
    "AO": "angola",
    "AQ": "antarctica antarktis antarctique antrtida antartide",
    "AR": "argentina argentinien argentine argentini",
    "AS": "americansamoa amerikanischsamoa samoaamricaines samoaamericana samoaamericane amerikaanssamoa",
    "AT": "austria sterreich autriche oostenrijk",
    "AU": "australia australien australie australi",
    "AW": "aruba",
    "AX": "landislands aalandinseln lesland islasaland isolealand alandeilanden",
    "AZ": "azerbaijan aserbaidschan azerbadjan azerbaiyn azerbaigian azerbeidzjan",
    "BA": (
        "bosniaandherzegovina bosnienundherzegowina bosnieherzgovine bosniayhercegovina bosniaerzegovina "
        "bosnienherzegovina"
    ),
    "BB": "barbados barbade",
    "BD": "bangladesh bangladesch",
    "BE": "belgium belgien belgique blgica belgio belgi",
    "BF": "burkinafaso",
    "BG": "bulgaria bulgarien bulgarie bulgarije",
    "BH": "bahrain bahren bahrin bahrein",
    "BI": "burundi",
    "BJ": "benin benn",
    "BL": "saintbarthlemy sanbartolom",
    "BM": "bermuda bermudas",
    "BN": "brunei bruni",
    "BO": "bolivia bolivien bolivie",
    "BQ": (
        "bonairesinteustatiusandsaba bonairesinteustatiusundsaba bonairesainteustacheetsaba "
        "bonairesaneustaquioysaba bonairesinteustatiusesaba"
    ),
    "BR": "brazil brasilien brsil brasile brazili",
    "BS": "bahamas",
    "BT": "bhutan bhoutan butn",
    "BV": "bouvetisland bouvetinsel lebouvet islabouvet isoladibouvet bouveteiland",
    "BW": "botswana botsuana",
    "BY": "belarus bilorussie bielorrusia bielorussia witrusland",
    "BZ": "belize blize belice",
    "CA": "canada kanada canad",
    "CC": "cocosislands kokosinseln lescocos islascocos isolecocos cocoseilanden",
    "CD": (
        "thedemocraticrepublicofcongo demokratischerepublikkongo rpubliquedmocratiqueducongo "
        "repblicademocrticadelcongo repubblicademocraticadelcongo congokinshasa"
    ),
    "CF": (
        "centralafricanrepublic zentralafrikanischerepublik rpubliquecentreafricaine "
        "repblicacentroafricana repubblicacentrafricana centraalafrikaanserepubliek"
    ),
    "CG": "congo kongo",
    "CH": "switzerland schweiz suisse suiza svizzera zwitserland",
    "CI": "ctedivoire elfenbeinkste costademarfil costadavorio ivoorkust",
    "CK": "cookislands cookinseln lescook islascook isolecook cookeilanden",
    "CL": "chile chili cile",
    "CM": "cameroon kamerun cameroun camern kameroen",
    "CN": "china chine",
    "CO": "colombia kolumbien colombie",
    "CR": "costarica",
    "CU": "cuba kuba",
    "CV": "capeverde kapverde capvert caboverde capoverde kaapverdi",
    "CW": "curaao",
    "CX": "christmasisland weihnachtsinsel lechristmas islachristmas isoladinatale christmaseiland",
    "CY": "cyprus zypern chypre chipre cipro",
    "CZ": "czechrepublic tschechischerepublik rpubliquetchque chequia repubblicaceca tsjechi",
    "DE": "germany deutschland allemagne alemania germania duitsland",
    "DJ": "djibouti dschibuti yibuti gibuti",
    "DK": "denmark dnemark danemark danimarca denemarken",
    "DM": "dominica dominique",
    "DO": (
        "dominicanrepublic dominikanischerepublik rpubliquedominicaine repubblicadominicana "
        "dominicaanserepubliek"
    ),
    "DZ": "algeria algerien algrie argelia algerije",
    "EC": "ecuador equateur",
    "EE": "estonia estland estonie",
    "EG": "egypt gypten egypte egipto egitto",
    "EH": "westernsahara westsahara saharaoccidental saharaoccidentale westelijkesahara",
    "ER": "eritrea erythre",
    "ES": "spain spanien espagne espaa spagna spanje",
    "ET": "ethiopia thiopien ethiopie etiopa etiopia ethiopi",
    "FI": "finland finnland finlande finlandia",
    "FJ": "fiji fidschi fidji fiyi figi",
    "FK": "falklandislands falklandinseln lesmalouines islasmalvinas isolefalkland falklandeilanden",
    "FM": "micronesia mikronesien micronsie micronesi",
    "FO": "faroeislands frerinseln lesfro islasferoe isolefroer faerer",
    "FR": "france frankreich francia frankrijk",
    "GA": "gabon gabun gabn",
    "GB": "unitedkingdom vereinigtesknigreich royaumeuni reinounido regnounito verenigdkoninkrijk",
    "GD": "grenada grenade granada",
    "GE": "georgia georgien gorgie georgi",
    "GF": "frenchguiana franzsischguayana guyanefranaise guayanafrancesa guayanafrancese fransguyana",
    "GG": "guernsey guernesey",
    "GH": "ghana",
    "GI": "gibraltar gibilterra",
    "GL": "greenland grnland groenland groenlandia",
    "GM": "gambia gambie",
    "GN": "guinea guine guinee",
    "GP": "guadeloupe guadalupe guadalupa",
    "GQ": (
        "equatorialguinea quatorialguinea guineequatoriale guineaecuatorial guineaequatoriale "
        "equatoriaalguinea"
    ),
    "GR": "greece griechenland grce grecia griekenland",
    "GS": (
        "southgeorgiaandthesouthsandwichislands sdgeorgiaunddiesdlichensandwichinseln "
        "gorgiedusudetlessandwichdusud islasgeorgiadelsurysandwichdelsur "
        "georgiadelsudeisolesandwichmeridionali zuidgeorgienzuidelijkesandwicheilanden"
    ),
    "GT": "guatemala",
    "GU": "guam",
    "GW": "guineabissau guinebissau guineebissau",
    "GY": "guyana",
    "HK": "hongkong hongkongsarvanchina",
    "HM": (
        "heardislandandmcdonaldislands heardundmcdonaldinseln leheardetlesmcdonald islasheardymcdonald "
        "isoleheardemcdonald heardenmcdonaldeilanden"
    ),
    "HN": "honduras",
    "HR": "croatia kroatien croatie croacia croazia kroati",
    "HT": "haiti hati",
    "HU": "hungary ungarn hongrie hungra ungheria hongarije",
    "ID": "indonesia indonesien indonsie indonesi",
    "IE": "ireland irland irlande ierland",
    "IL": "israel isral israele",
    "IM": "isleofman iledeman islademan isoladiman",
    "IN": "india indien inde",
    "IO": (
        "britishindianoceanterritory britischeterritorienimindischenozean "
        "territoiresbritanniquesdelocanindien territoriobritnicodelocanondico "
        "territoriobritannicodelloceanoindiano britsegebiedenindeindischeoceaan"
    ),
    "IQ": "iraq irak",
    "IR": "iran irn",
    "IS": "iceland island islande islandia islanda ijsland",
    "IT": "italy italien italie italia itali",
    "JE": "jersey",
    "JM": "jamaica jamaika jamaque giamaica",
    "JO": "jordan jordanien jordanie jordania giordania jordani",
    "JP": "japan japon japn giappone",
    "KE": "kenya kenia",
    "KG": "kyrgyzstan kirgistan kirguizistn kirghizistan kirgizi",
    "KH": "cambodia kambodscha cambodge camboya cambogia",
    "KI": "kiribati",
    "KM": "comoros komoren comore comoren",
    "KN": (
        "saintkittsandnevis saintkittsundnevis saintchristopheetnivs sancristbalynieves saintkittsenevis "
        "saintkittsennevis"
    ),
    "KP": "northkorea nordkorea coredunord coreadelnorte noordkorea",
    "KR": "southkorea sdkorea coredusud coreadelsur zuidkorea",
    "KW": "kuwait koweit koeweit",
    "KY": "caymanislands kaimaninseln lescamans islascaimn isolecayman caymaneilanden",
    "KZ": "kazakhstan kasachstan kazajstn kazachstan",
    "LA": "laos",
    "LB": "lebanon libanon liban lbano libano",
    "LC": "saintlucia stlucia saintelucie santalucia saintelucia",
    "LI": "liechtenstein",
    "LK": "srilanka",
    "LR": "liberia",
    "LS": "lesotho lesoto",
    "LT": "lithuania litauen lithuanie lituania litouwen",
    "LU": "luxembourg luxemburgo lussemburgo",
    "LV": "latvia lettland lettonie letonia lettonia letland",
    "LY": "libya libyen libye libia libi",
    "MA": "morocco marokko maroc marruecos marocco",
    "MC": "monaco mnaco",
    "MD": "moldova moldau moldavie moldavia moldavi",
    "ME": "montenegro montngro",
    "MF": "saintmartin stmartin sanmartn",
    "MG": "madagascar madagaskar",
    "MH": "marshallislands marshallinseln lesmarshall islasmarshall isolemarshall marshalleilanden",
    "MK": "macedonia mazedonien macdoine macedoni",
    "ML": "mali mal",
    "MM": "myanmar",
    "MN": "mongolia mongolei mongolie mongoli",
    "MO": "macao macaosarvanchina",
    "MP": (
        "northernmarianaislands nrdlichemarianneninseln lesmariannesdunord islasmarianasdelnorte "
        "isolemariannesettentrionali noordelijkemarianeneilanden"
    ),
    "MQ": "martinique",
    "MR": "mauritania mauretanien mauritanie mauritani",
    "MS": "montserrat",
    "MT": "malta malte",
    "MU": "mauritius maurice mauricio maurizio",
    "MV": "maldives maldiven maldivas maldive",
    "MW": "malawi malaui",
    "MX": "mexico mexiko mexique mxico messico",
    "MY": "malaysia malaisie malasia maleisi",
    "MZ": "mozambique mosambik mozambico",
    "NA": "namibia namibie namibi",
    "NC": "newcaledonia neukaledonien nouvellecaldonie nuevacaledonia nuovacaledonia nieuwcaledoni",
    "NE": "niger",
    "NF": "norfolkisland norfolkinsel lenorfolk islanorfolk isolanorfolk norfolkeiland",
    "NG": "nigeria nigria",
    "NI": "nicaragua",
    "NL": "netherlands niederlande paysbas holanda paesibassi nederland",
    "NO": "norway norwegen norvge norvegia noorwegen",
    "NP": "nepal npal",
    "NR": "nauru",
    "NU": "niue",
    "NZ": "newzealand neuseeland nouvellezlande nuevazelanda nuovazelanda nieuwzeeland",
    "OM": "oman omn",
    "PA": "panama panam",
    "PE": "peru prou per",
    "PF": (
        "frenchpolynesia franzsischpolynesien polynsiefranaise polinesiafrancesa polinesiafrancese "
        "franspolynesi"
    ),
    "PG": (
        "papuanewguinea papuaneuguinea papouasienouvelleguine papanewguinea papuanuovaguinea "
        "papoeanieuwguinea"
    ),
    "PH": "philippines philippinen filipinas filippine filipijnen",
    "PK": "pakistan paquistn",
    "PL": "poland polen pologne polonia",
    "PM": (
        "saintpierreandmiquelon stpierreundmiquelon saintpierreetmiquelon sanpedroymiqueln "
        "saintpierreemiquelon saintpierreenmiquelon"
    ),
    "PN": "pitcairn islaspitcairn",
    "PR": "puertorico portorico",
    "PS": "palestine palstina palestina palestijnsgebied",
    "PT": "portugal portogallo",
    "PW": "palau belau palaos",
    "PY": "paraguay",
    "QA": "qatar katar",
    "RE": "reunion larunion reunin",
    "RO": "romania rumnien roumanie rumania roemeni",
    "RS": "serbia serbien serbie servi",
    "RU": "russia russland russie rusia rusland",
    "RW": "rwanda ruanda",
    "SA": "saudiarabia saudiarabien arabiesaoudite arabiasaudita saoediarabi",
    "SB": "solomonislands solomoninseln lessalomon islassalomn isolesolomon salomonseilanden",
    "SC": "seychelles seychellen",
    "SD": "sudan soudan sudn soedan",
    "SE": "sweden schweden sude suecia svezia zweden",
    "SG": "singapore singapour",
    "SH": "sainthelena sthelena saintehlne santahelena santelena sinthelena",
    "SI": "slovenia slowenien slovnie eslovenia sloveni",
    "SJ": (
        "svalbardandjanmayen svalbardundjanmayen svalbardetjanmayen svalbardyjanmayen svalbardejanmayen "
        "svalbardenjanmayen"
    ),
    "SK": "slovakia slowakei slovaquie eslovaquia slovacchia slowakije",
    "SL": "sierraleone sierraleona",
    "SM": "sanmarino saintmarin",
    "SN": "senegal sngal",
    "SO": "somalia somalie somali",
    "SR": "suriname",
    "SS": "southsudan sdsudan sudsoudan sudndelsur sudandelsud",
    "ST": (
        "saotomeandprincipe saotomeundprincipe saotometprincipe santotomyprncipe sotomeprincipe "
        "saotomenprincipe"
    ),
    "SV": "elsalvador",
    "SX": (
        "sintmaartendutchpart sintmaartenniederlndischerteil saintmartinpartienerlandaise "
        "sanmartnreginholandesa sintmaartenparteolandese"
    ),
    "SY": "syria syrien syrie siria syri",
    "SZ": "swaziland swasiland suazilandia",
    "TC": (
        "turksandcaicosislands turksundcaicosinseln lesturksetcaicos islasturcasycaicos isoleturksecaicos "
        "turksencaicoseilanden"
    ),
    "TD": "chad tschad tchad ciad tsjaad",
    "TF": (
        "frenchsouthernterritories franzsischesdgebiete territoiresfranaisdusud "
        "territoriosfrancesesdelsur territorifrancesidoltremare "
        "fransegebiedenindezuidelijkeindischeoceaan"
    ),
    "TG": "togo",
    "TH": "thailand thalande tailandia thailandia",
    "TJ": "tajikistan tadschikistan tayikistn tagikistan tadzjikistan",
    "TK": "tokelau",
    "TL": "timorleste timororiental oosttimor",
    "TM": "turkmenistan turkmnistan turkmenistn",
    "TN": "tunisia tunesien tunisie tnez tunesi",
    "TO": "tonga",
    "TR": "turkey trkei turquie turqua turchia turkije",
    "TT": (
        "trinidadandtobago trinidadundtobago trinitettobago trinidadytobago trinidadetobago "
        "trinidadentobago"
    ),
    "TV": "tuvalu",
    "TW": "taiwan taiwn",
    "TZ": "tanzania tansania tanzanie",
    "UA": "ukraine ucrania ucraina oekrane",
    "UG": "uganda ouganda oeganda",
    "UM": (
        "unitedstatesminoroutlyingislands brigeinselnimpazifikderusa dpendancesamricainesdupacifique "
        "islasmenoresalejadasdelosestadosunidos isoleminorilontanedeglistatiuniti "
        "amerikaansekleinereafgelegeneilanden"
    ),
    "US": "unitedstates vereinigtestaatenvonamerika etatsunis estadosunidos statiuniti verenigdestaten",
    "UY": "uruguay",
    "UZ": "uzbekistan usbekistan ouzbkistan uzbekistn oezbekistan",
    "VA": "vatican vatikanstadt ciudaddelvaticano cittdelvaticano vaticaanstad",
    "VC": (
        "saintvincentandthegrenadines stvincentunddiegrenadinen saintvincentetlesgrenadines "
        "sanvicenteylasgranadinas saintvincentegrenadine saintvincentendegrenadines"
    ),
    "VE": "venezuela vnzuela",
    "VG": (
        "britishvirginislands britischejungferninseln ilesviergesbritanniques islasvrgenesbritnicas "
        "isoleverginigb britsemaagdeneilanden"
    ),
    "VI": (
        "usvirginislands amerikanischejungferninseln ilesviergesamricaines islasvrgenesamericanas "
        "isoleverginiusa amerikaansemaagdeneilanden"
    ),
    "VN": "vietnam",
    "VU": "vanuatu",
    "WF": "wallisandfutuna wallisundfutuna wallisetfutuna wallisyfutuna wallisefutuna wallisenfutuna",
    "WS": "samoa",
    "YE": "yemen jemen ymen",
    "YT": "mayotte mayotta",
    "ZA": "southafrica sdafrika afriquedusud sudfrica sudafrica zuidafrika",
    "ZM": "zambia sambia zambie",
    "ZW": "zimbabwe simbabwe zimbabue",
}
